"""Replaying recorded candles or ticks from a JSON-lines file, looping at the end.

One JSON object a line; lines starting with `#` are comments. Two kinds of line:
- a candle: {"coin": "BTC", "t": <start, ms>, "o": "...", "h": "...", "l": "...", "c": "..."}
  walked as four points: open, then the extreme nearer the open's side of the move (low first
  in a rising candle, high first in a falling one), then the other extreme, then close;
- a tick: {"coin": "BTC", "t": <ms>, "mark": "...", "oracle"?: "...", "mid"?: "..."}.
Either may carry "funding" (hourly); without it the baseline 0.0000125 is used. Oracle and mid
default to the mark (candles carry one price, so replayed frames have no basis).

Lines are grouped by `t`; each group becomes as many frames as its longest line has points,
and a coin with no point in a frame keeps its last price (its first one before it appears),
so every frame prices every coin of the file. Pure (no Django).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path

from apps.market.frames import Tick

DEFAULT_FUNDING = Decimal("0.0000125")
DATA_FILE = Path(__file__).resolve().parent.parent / "data" / "replay_candles.jsonl"


class ReplayError(ValueError):
    pass


def _price(line: dict, key: str, where: str) -> Decimal:
    raw = line.get(key)
    if not isinstance(raw, str):
        raise ReplayError(f"{where}: {key!r} is {raw!r}, not a decimal string")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ReplayError(f"{where}: {key!r} is {raw!r}, not a decimal") from None
    if not value.is_finite() or (key != "funding" and value <= 0):
        raise ReplayError(f"{where}: {key!r} is {raw!r}, not a positive price")
    return value


def _points(line: dict, where: str) -> list[Tick]:
    funding = _price(line, "funding", where) if "funding" in line else DEFAULT_FUNDING
    if "o" in line:
        o, h, lo, c = (_price(line, k, where) for k in ("o", "h", "l", "c"))
        if not (lo <= min(o, c) and h >= max(o, c)):
            raise ReplayError(f"{where}: the candle's low/high do not bound its open and close")
        path = [o, lo, h, c] if c >= o else [o, h, lo, c]
        return [Tick(p, p, p, funding) for p in path]
    if "mark" in line:
        mark = _price(line, "mark", where)
        oracle = _price(line, "oracle", where) if "oracle" in line else mark
        mid = _price(line, "mid", where) if "mid" in line else mark
        return [Tick(mark, oracle, mid, funding)]
    raise ReplayError(f"{where}: neither a candle (o/h/l/c) nor a tick (mark)")


def read_steps(lines: Iterable[str], name: str = "replay file") -> list[dict[str, Tick]]:
    """The frames' prices a replay file walks through, in order."""
    groups: dict[int, list[tuple[str, list[Tick]]]] = {}
    for number, text in enumerate(lines, start=1):
        text = text.strip()
        if not text or text.startswith("#"):
            continue
        where = f"{name} line {number}"
        try:
            line = json.loads(text)
        except ValueError as exc:
            raise ReplayError(f"{where}: not JSON ({exc})") from None
        if not isinstance(line, dict):
            raise ReplayError(f"{where}: not a JSON object")
        coin, t = line.get("coin"), line.get("t")
        if not isinstance(coin, str) or not coin:
            raise ReplayError(f"{where}: 'coin' is missing")
        if not isinstance(t, int) or isinstance(t, bool):
            raise ReplayError(f"{where}: 't' (milliseconds) is missing or not a whole number")
        groups.setdefault(t, []).append((coin, _points(line, where)))
    if not groups:
        raise ReplayError(f"{name} has no candles or ticks")
    raw_steps: list[dict[str, Tick]] = []
    for t in sorted(groups):
        entries = groups[t]
        for i in range(max(len(points) for _, points in entries)):
            raw_steps.append({coin: points[i] for coin, points in entries if i < len(points)})
    # Carry prices forward; a coin's first price also stands for the steps before it appears.
    first: dict[str, Tick] = {}
    for step in raw_steps:
        for coin, tick in step.items():
            first.setdefault(coin, tick)
    steps = []
    current = dict(first)
    for step in raw_steps:
        current.update(step)
        steps.append(dict(current))
    return steps


class ReplaySource:
    name = "replay"

    def __init__(self, steps: list[dict[str, Tick]]) -> None:
        if not steps:
            raise ReplayError("nothing to replay")
        self._steps = steps
        self.position = 0  # index of the next step
        self.loops = 0

    @classmethod
    def from_file(cls, path: Path | str = DATA_FILE) -> ReplaySource:
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ReplayError(f"cannot read the replay file {path}: {exc.strerror}") from None
        return cls(read_steps(text.splitlines(), name=str(path)))

    def __len__(self) -> int:
        return len(self._steps)

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass

    def next_prices(self) -> dict[str, Tick]:
        prices = self._steps[self.position]
        self.position += 1
        if self.position == len(self._steps):
            self.position = 0
            self.loops += 1
        return prices


# --- Building the shipped file from the recorded candles -------------------------------------

HEADER = """\
# Replay data for `run_market_feed --source replay`, built by `manage.py build_replay_file`.
# Source: ../shared/fixtures/hyperliquid/cassettes/test_get_candles_snapshot.yaml, a real
# recorded Hyperliquid candleSnapshot answer (kPEPE, 1h, 2023-05-21 20:00 .. 2023-05-22 19:00
# UTC) from hyperliquid-dex/hyperliquid-python-sdk's test cassettes (see PROVENANCE.md there).
# The kPEPE lines are the recording's o/h/l/c as they are. The other lines ({scaled})
# are DERIVED, not recorded: kPEPE's path scaled so each starts at its recorded mid in
# cassettes/test_get_all_mids.yaml (2023-07-17), rounded to 5 significant figures, so the
# demo's main coins move on a real-shaped path too.
"""


def _five_figures(value: Decimal) -> Decimal:
    return value.quantize(Decimal(1).scaleb(value.adjusted() - 4))


def build_replay_lines(
    candles: list[dict], scale_to: Mapping[str, Decimal], funding: Decimal = DEFAULT_FUNDING
) -> list[str]:
    """The replay file's lines from a candleSnapshot answer and mids to scale copies to."""
    if not candles:
        raise ReplayError("the candle snapshot is empty")
    candles = sorted(candles, key=lambda c: c["t"])
    coin = candles[0]["s"]
    first_open = Decimal(candles[0]["o"])
    lines = [HEADER.format(scaled=", ".join(sorted(scale_to))).rstrip("\n")]
    for candle in candles:
        row = {"coin": coin, "t": candle["t"], "i": candle["i"]}
        row.update({k: candle[k] for k in ("o", "h", "l", "c")})
        row["funding"] = f"{funding:f}"
        lines.append(json.dumps(row, separators=(",", ":")))
        for target in sorted(scale_to):
            factor = scale_to[target] / first_open
            scaled = {
                k: f"{_five_figures(Decimal(candle[k]) * factor):f}" for k in ("o", "h", "l", "c")
            }
            row = {"coin": target, "t": candle["t"], "i": candle["i"], **scaled}
            row.update(funding=f"{funding:f}", derived_from=coin)
            lines.append(json.dumps(row, separators=(",", ":")))
    return lines
