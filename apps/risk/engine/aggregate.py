"""The firm aggregate: each shard's partial, their sum, and the latest sum read from Redis.

A shard publishes its partial to the Channels group `risk.firm` (message type `risk.firm`) and
keeps it in Redis under `risk:firm:partial:<i>/<n>` for PARTIAL_TTL seconds, so a dashboard
(or anyone) sums the latest partial of every live shard with `firm_aggregate_latest()`; a
stopped shard's partial expires instead of being summed for ever.

A partial (every figure a decimal string rounded to the cent):

    {"type": "risk.firm", "shard": "0/2", "shards": 2, "t": ISO, "seq": frame seq,
     "accounts": 123, "equity": "…", "day_pnl": "…",
     "instruments": {"BTC": {"mark": "…",
                             "real": {"long": "…", "short": "…", "net": "…", "accounts": 3},
                             "simulated": {"long": "…", "short": "…", "net": "…", "accounts": 9}}},
     "closest": [{"account": 7, "headroom_pct": "0.41", "headroom": "…", "equity": "…",
                  "floor": "…"}, …]}   # the CLOSEST accounts nearest a floor, nearest first

Real means an account on a live venue (the firm's capital), simulated a paper one (DESIGN.md,
"Venues"). Figures come from the float revaluation: they are for watching, rounded to the cent,
never booked. `firm_aggregate_sum` adds partials exactly (as Decimals).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import numpy as np

from apps.risk.engine.book import NO_FLOOR, Book, Revaluation

MESSAGE_TYPE = "risk.firm"
KEY_PREFIX = "risk:firm:partial:"
PARTIAL_TTL = 10  # seconds: a few aggregate periods, so one slow frame never drops a shard
CLOSEST = 10
SIDES = ("real", "simulated")


def _money(value: float) -> str:
    text = f"{value:.2f}"
    return "0.00" if text == "-0.00" else text


def partial_key(shard_label: str) -> str:
    return f"{KEY_PREFIX}{shard_label}"


def partial_aggregate(
    book: Book, value: Revaluation, *, shard: str, shards: int, t: str, seq: int
) -> dict[str, Any]:
    """This shard's part of the firm aggregate, from the frame's revaluation (vectorised)."""
    n = len(book)
    qty, coin = book.qty[:n], book.coin[:n]
    notional = qty * book.slot_marks()
    real = np.broadcast_to(book.real[:n, None], qty.shape)
    width = len(book.coins)
    flat_coin = coin.ravel()
    instruments: dict[str, Any] = {}
    sums = {}
    for side, mask in (("real", real), ("simulated", ~real)):
        held = mask & (qty != 0)
        long = np.bincount(flat_coin, (notional * (held & (qty > 0))).ravel(), width)
        short = np.bincount(flat_coin, (-notional * (held & (qty < 0))).ravel(), width)
        count = np.bincount(flat_coin, held.ravel(), width)
        sums[side] = (long, short, count)
    for index, name in enumerate(book.coins):
        if not any(sums[side][2][index] for side in SIDES):
            continue
        mark = book.marks[index]
        entry: dict[str, Any] = {"mark": None if np.isnan(mark) else f"{mark:f}"}
        for side in SIDES:
            long, short, count = (array[index] for array in sums[side])
            entry[side] = {
                "long": _money(long),
                "short": _money(short),
                "net": _money(long - short),
                "accounts": int(count),
            }
        instruments[name] = entry
    equity = value.equity
    floor = book.floor[:n]
    has_floor = floor > NO_FLOOR
    closest: list[dict[str, Any]] = []
    if has_floor.any():
        rows = np.flatnonzero(has_floor)
        initial = book.initial[:n][rows]
        room = equity[rows] - floor[rows]
        pct = np.where(initial > 0, room * 100 / np.where(initial > 0, initial, 1), 0.0)
        take = min(CLOSEST, len(rows))
        nearest = np.argpartition(pct, take - 1)[:take] if take < len(rows) else np.arange(take)
        for j in nearest[np.argsort(pct[nearest], kind="stable")]:
            i = rows[j]
            closest.append(
                {
                    "account": int(book.ids[i]),
                    "headroom_pct": _money(pct[j]),
                    "headroom": _money(room[j]),
                    "equity": _money(equity[i]),
                    "floor": _money(floor[i]),
                }
            )
    return {
        "type": MESSAGE_TYPE,
        "shard": shard,
        "shards": shards,
        "t": t,
        "seq": seq,
        "accounts": n,
        "equity": _money(float(equity.sum())),
        "day_pnl": _money(float((equity - book.day_base[:n]).sum())),
        "instruments": instruments,
        "closest": closest,
    }


def _d(text: str | None) -> Decimal:
    return Decimal(text) if text is not None else Decimal(0)


def _s(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):f}"


def firm_aggregate_sum(partials: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The firm aggregate: the shards' partials added up (exactly, as Decimals).

    `complete` says whether every shard of the sharding (`shards`) sent a partial; `shards`
    lists those that did. The closest accounts are the CLOSEST nearest a floor over all shards.
    """
    partials = list(partials)
    labels = sorted({p["shard"] for p in partials})
    counts = {int(p["shards"]) for p in partials}
    complete = False
    if len(counts) == 1:
        total = counts.pop()
        complete = set(labels) == {f"{i}/{total}" for i in range(total)}
    instruments: dict[str, dict[str, Any]] = {}
    equity = day_pnl = Decimal(0)
    accounts = 0
    closest: list[dict[str, Any]] = []
    for partial in partials:
        accounts += int(partial["accounts"])
        equity += _d(partial["equity"])
        day_pnl += _d(partial["day_pnl"])
        closest += partial.get("closest", [])
        for coin, entry in partial.get("instruments", {}).items():
            into = instruments.setdefault(coin, {"mark": entry.get("mark")})
            if entry.get("mark") is not None:
                into["mark"] = entry["mark"]
            for side in SIDES:
                zero = Decimal(0)
                have = into.setdefault(
                    side, {"long": zero, "short": zero, "net": zero, "accounts": 0}
                )
                add = entry.get(side) or {}
                for name in ("long", "short", "net"):
                    have[name] += _d(add.get(name))
                have["accounts"] += int(add.get("accounts", 0))
    for entry in instruments.values():
        for side in SIDES:
            for name in ("long", "short", "net"):
                entry[side][name] = _s(entry[side][name])
    closest.sort(key=lambda row: (Decimal(row["headroom_pct"]), row["account"]))
    times = [p["t"] for p in partials if p.get("t")]
    return {
        "type": MESSAGE_TYPE,
        "shards": labels,
        "complete": complete,
        "t": min(times) if times else None,
        "accounts": accounts,
        "equity": _s(equity),
        "day_pnl": _s(day_pnl),
        "instruments": dict(sorted(instruments.items())),
        "closest": closest[:CLOSEST],
    }


def partial_store(partial: Mapping[str, Any], client=None) -> None:
    """Keep the shard's latest partial in Redis for PARTIAL_TTL seconds."""
    from apps.core.redis import get_redis

    (client or get_redis()).set(
        partial_key(partial["shard"]), json.dumps(partial, separators=(",", ":")), ex=PARTIAL_TTL
    )


def firm_partials_latest(client=None) -> list[dict[str, Any]]:
    from apps.core.redis import get_redis

    client = client or get_redis()
    keys = sorted(client.scan_iter(match=f"{KEY_PREFIX}*", count=100))
    if not keys:
        return []
    return [json.loads(raw) for raw in client.mget(keys) if raw]


def firm_aggregate_latest(client=None) -> dict[str, Any]:
    """The firm aggregate now: the sum of every live shard's latest partial."""
    return firm_aggregate_sum(firm_partials_latest(client))
