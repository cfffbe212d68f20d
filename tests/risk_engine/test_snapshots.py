"""Live snapshots: the engine (a process) pushes `account.<id>` snapshots in DESIGN's shape, at
most two a second per account, through the real Redis channel layer; `risk.firm` carries the
shard's partial aggregate."""

from __future__ import annotations

import asyncio
import threading
import time
from decimal import Decimal

import pytest
from channels.layers import get_channel_layer

from apps.risk.push import FIRM_GROUP, account_group
from apps.trading.models import Position
from tests.risk_engine.support import EngineProcess, market, open_accounts, publish, trade

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]

SNAPSHOT_KEYS = {
    "type",
    "account",
    "t",
    "state",
    "balance",
    "equity",
    "unrealized_pnl",
    "day_pnl",
    "floors",
    "headroom",
    "positions",
    "verdict",
}


async def _listen(groups: list[str], until: threading.Event, grace: float):
    """(seconds since start, message) for every message sent to these groups."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    for group in groups:
        await layer.group_add(group, channel)
    started, received, quiet_since = time.monotonic(), [], None
    try:
        while True:
            try:
                message = await asyncio.wait_for(layer.receive(channel), 0.1)
                received.append((time.monotonic() - started, message))
            except TimeoutError:
                pass
            if until.is_set():
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since > grace:
                    return received
    finally:
        for group in groups:
            await layer.group_discard(group, channel)


def test_snapshots_reach_the_account_group_in_designs_shape_at_most_twice_a_second(service_env):
    market()
    (account,) = open_accounts(1)
    trade(account, "buy", "4")
    group = account_group(account.trading_account_id)
    frames = 25
    engine = EngineProcess(service_env, "--max-frames", str(frames + 1)).ready()
    done = threading.Event()

    def feed() -> None:
        for i in range(frames):  # 10 frames a second for 2.5 s, the price creeping down
            publish(BTC=str(59_900 - 20 * i))
            time.sleep(0.1)
        publish(BTC="57000")  # the breach: the last snapshot carries the verdict
        engine.wait()
        done.set()

    feeder = threading.Thread(target=feed)
    feeder.start()
    received = asyncio.run(_listen([group, FIRM_GROUP], done, grace=0.5))
    feeder.join()

    # The engine's snapshots (the portal also pushes its own after a booked fill).
    snapshots = [
        (at, m)
        for at, m in received
        if m["type"] == "account.snapshot" and m.get("source") != "portal"
    ]
    firm = [m for _at, m in received if m["type"] == "risk.firm"]
    assert len(snapshots) >= 4
    gaps = [b - a for (a, _), (b, _) in zip(snapshots, snapshots[1:], strict=False)]
    # Two a second at most (a little slack for delivery jitter), never a burst per frame.
    assert min(gaps) >= 0.4, gaps
    assert len(snapshots) <= 2 * (snapshots[-1][0] - snapshots[0][0]) + 1.5

    _, first = snapshots[0]
    assert set(first) == SNAPSHOT_KEYS
    assert first["account"] == account.trading_account_id
    assert first["state"] == "active" and first["verdict"] is None
    assert first["floors"] == {"daily": "95000.00", "max_loss": "90000.00"}
    assert set(first["headroom"]) >= {"daily_loss", "max_loss", "profit_target"}
    equity = Decimal(first["equity"])
    # Each figure is rounded on its own: a sum of rounded figures is within a cent.
    cent = Decimal("0.01")
    assert abs(equity - Decimal(first["balance"]) - Decimal(first["unrealized_pnl"])) <= cent
    assert Decimal(first["headroom"]["max_loss"]["headroom"]) == equity - Decimal("90000")
    (position,) = first["positions"]
    held = Position.objects.get(account_id=account.trading_account_id, coin="BTC")
    assert (position["coin"], position["size"]) == ("BTC", "4")
    assert Decimal(position["entry_price"]) == held.entry_price  # the paper venue's fill price
    pnl = 4 * (Decimal(position["mark"]) - held.entry_price)
    assert abs(Decimal(position["unrealized_pnl"]) - pnl) <= cent / 2
    for value in (first["balance"], first["equity"], first["day_pnl"], position["notional"]):
        assert isinstance(value, str) and Decimal(value) == Decimal(value).quantize(Decimal("0.01"))

    _, last = snapshots[-1]
    assert last["state"] == "halted"
    assert last["verdict"]["status"] == "failed" and last["verdict"]["reason"] == "max_loss"

    assert firm and firm[-1]["shard"] == "0/1"
