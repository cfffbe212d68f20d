"""Demo market data for `seed_demo`: Hyperliquid's instruments and starting prices.

From the recorded answers in ../shared/fixtures/hyperliquid (read where they lie, never copied):
every distinct recorded `meta` (the 2023 universe of 28 coins, then the newer sample's
leverage caps for BTC, ETH, ATOM) and the recorded mids (allMids of 2023, the newer websocket
sample's BTC, ETH, SOL). Where ../shared is absent, a built-in BTC, ETH, SOL and says so.
Idempotent: a second run changes nothing.
"""

from __future__ import annotations

from decimal import Decimal

from apps.market.models import Instrument
from apps.market.recorded import RecordedDataMissing, recorded_all_mids, recorded_metas
from apps.market.selectors import fee_schedule_default
from apps.market.services import instrument_mids_record, instruments_load

DEMO_COINS = ("BTC", "ETH", "SOL")
# Hyperliquid's parameters for the three (szDecimals, maxLeverage) and starting prices: the
# mids of samples/ws_allmids.json, so the fallback starts where the recorded demo does.
BUILT_IN_META = {
    "universe": [
        {"name": "BTC", "szDecimals": 5, "maxLeverage": 40},
        {"name": "ETH", "szDecimals": 4, "maxLeverage": 25},
        {"name": "SOL", "szDecimals": 2, "maxLeverage": 20},
    ]
}
BUILT_IN_MIDS = {"BTC": Decimal("80868.5"), "ETH": Decimal("2296.45"), "SOL": Decimal("94.8775")}


def seed() -> list[str]:
    lines = []
    try:
        metas = recorded_metas()
        mids = recorded_all_mids()
    except RecordedDataMissing as exc:
        lines.append(f"recorded Hyperliquid data not found ({exc}); using the built-in list")
        metas, mids = [("built-in", BUILT_IN_META)], dict(BUILT_IN_MIDS)
    where = " + ".join(w for w, _ in metas)
    result = instruments_load(payload=merge_metas([p for _, p in metas]), source=where)
    lines.append(
        f"instruments from {where}: {len(result.created)} new, {len(result.updated)} "
        f"updated, {result.unchanged} unchanged"
    )
    # The recorded metas hold the three demo coins; should a future recording lack one, add it
    # from the built-in list rather than demo without it.
    present = set(Instrument.objects.filter(coin__in=DEMO_COINS).values_list("coin", flat=True))
    missing = [e for e in BUILT_IN_META["universe"] if e["name"] not in present]
    if missing:
        instruments_load(payload={"universe": missing}, source="built-in")
        lines.append(f"added from the built-in list: {', '.join(e['name'] for e in missing)}")
    for coin in DEMO_COINS:
        mids.setdefault(coin, BUILT_IN_MIDS[coin])
    changed = instrument_mids_record(mids=mids, source="recorded mids")
    lines.append(f"starting prices: {len(changed)} set from recorded mids")
    lines.append(
        "demo coins: " + ", ".join(f"{coin} {mids[coin]}" for coin in DEMO_COINS if coin in mids)
    )
    schedule = fee_schedule_default()
    lines.append(f"fee schedule: {schedule}")
    return lines


def merge_metas(payloads: list[dict]) -> dict:
    """One meta from several recordings, oldest first: a coin keeps its place in the universe
    (its asset index never changes on Hyperliquid) and takes its newest parameters. Loading
    them one by one instead would flip the older values back and forth on every seed."""
    entries: dict[str, dict] = {}
    tables: dict[int, object] = {}
    for payload in payloads:
        for entry in payload["universe"]:
            entries[entry["name"]] = entry
        for table_id, table in payload.get("marginTables") or []:
            tables[table_id] = table
    merged: dict = {"universe": list(entries.values())}
    if tables:
        merged["marginTables"] = [[k, v] for k, v in tables.items()]
    return merged
