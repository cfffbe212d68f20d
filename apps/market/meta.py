"""Reading Hyperliquid's `meta` and `metaAndAssetCtxs` answers into plain instrument specs.

Pure (no Django): the whole payload is checked before anything is written, so a malformed one
is refused with a message naming the first wrong part, and the database is left as it was.

Shapes (POST https://api.hyperliquid.xyz/info):
- `{"type": "meta"}` -> `{"universe": [{"name", "szDecimals", "maxLeverage", "onlyIsolated"?,
  "isDelisted"?, "marginTableId"?}, ...], "marginTables"?: [[id, {"marginTiers": [...]}]]}`
- `{"type": "metaAndAssetCtxs"}` -> `[meta, [ctx, ...]]`, one ctx per universe entry, in
  order, with decimal strings `markPx`, `oraclePx`, `midPx` (null without a book), `funding`
  (hourly), `openInterest`, ...

Older recordings lack newer fields (2023 answers have no onlyIsolated, isDelisted, marginTables),
so every field past name, szDecimals and maxLeverage is optional.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation

CTX_FIELDS = {
    "mark_px": "markPx",
    "oracle_px": "oraclePx",
    "mid_px": "midPx",
    "funding_rate": "funding",
    "open_interest": "openInterest",
}


class MetaError(ValueError):
    """A payload that is not a meta / metaAndAssetCtxs answer; the message says where."""


@dataclass(frozen=True)
class InstrumentSpec:
    coin: str
    asset_index: int
    sz_decimals: int
    max_leverage: int
    only_isolated: bool = False
    is_delisted: bool = False
    margin_table_id: int | None = None
    margin_tiers: list[dict] = field(default_factory=list)
    # From the asset context, when the payload has one; None where the field is absent.
    prices: dict[str, Decimal | None] | None = None


def parse_meta(payload: object) -> list[InstrumentSpec]:
    """Instrument specs of a meta or metaAndAssetCtxs answer, in universe order."""
    if isinstance(payload, list):
        if len(payload) != 2:
            raise MetaError(
                f"a metaAndAssetCtxs answer is [meta, ctxs]; this list has {len(payload)} items"
            )
        meta, ctxs = payload
        if not isinstance(ctxs, list):
            raise MetaError("metaAndAssetCtxs[1] (the asset contexts) is not a list")
    elif isinstance(payload, dict):
        meta, ctxs = payload, None
    else:
        raise MetaError(
            f"expected a meta object or a [meta, ctxs] list, got {type(payload).__name__}"
        )
    where = "metaAndAssetCtxs[0]" if ctxs is not None else "meta"
    if not isinstance(meta, dict):
        raise MetaError(f"{where} is not an object")
    universe = meta.get("universe")
    if not isinstance(universe, list):
        raise MetaError(f"{where}.universe is missing or not a list")
    if not universe:
        raise MetaError(f"{where}.universe is empty")
    if ctxs is not None and len(ctxs) != len(universe):
        raise MetaError(
            f"{where}.universe has {len(universe)} instruments but there are "
            f"{len(ctxs)} asset contexts; they must pair up one to one"
        )
    tables = _margin_tables(meta.get("marginTables"), where)
    specs: list[InstrumentSpec] = []
    seen: set[str] = set()
    for index, entry in enumerate(universe):
        spec = _instrument(entry, index, f"{where}.universe[{index}]", tables)
        if spec.coin in seen:
            raise MetaError(f"{where}.universe[{index}]: {spec.coin} appears twice")
        seen.add(spec.coin)
        if ctxs is not None:
            prices = _ctx(ctxs[index], f"metaAndAssetCtxs[1][{index}] ({spec.coin})")
            spec = replace(spec, prices=prices)
        specs.append(spec)
    return specs


def _instrument(
    entry: object, index: int, where: str, tables: dict[int, list[dict]]
) -> InstrumentSpec:
    if not isinstance(entry, dict):
        raise MetaError(f"{where} is not an object")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise MetaError(f"{where}.name is missing or empty")
    if len(name) > 32:
        raise MetaError(f"{where}.name {name!r} is longer than 32 characters")
    sz_decimals = _whole(entry, "szDecimals", where, low=0, high=6)
    max_leverage = _whole(entry, "maxLeverage", where, low=1, high=1000)
    table_id = entry.get("marginTableId")
    if table_id is not None and (not isinstance(table_id, int) or isinstance(table_id, bool)):
        raise MetaError(f"{where}.marginTableId is {table_id!r}, not a whole number")
    return InstrumentSpec(
        coin=name,
        asset_index=index,
        sz_decimals=sz_decimals,
        max_leverage=max_leverage,
        only_isolated=_flag(entry, "onlyIsolated", where),
        is_delisted=_flag(entry, "isDelisted", where),
        margin_table_id=table_id,
        margin_tiers=tables.get(table_id, []) if table_id is not None else [],
    )


def _whole(entry: dict, key: str, where: str, *, low: int, high: int) -> int:
    if key not in entry:
        raise MetaError(f"{where}.{key} is missing")
    value = entry[key]
    if not isinstance(value, int) or isinstance(value, bool):
        raise MetaError(f"{where}.{key} is {value!r}, not a whole number")
    if not low <= value <= high:
        raise MetaError(f"{where}.{key} is {value}, outside {low}..{high}")
    return value


def _flag(entry: dict, key: str, where: str) -> bool:
    # Hyperliquid sends true, or leaves the key out (or null in some client dumps) for false.
    value = entry.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise MetaError(f"{where}.{key} is {value!r}, not true or false")
    return value


def _margin_tables(raw: object, where: str) -> dict[int, list[dict]]:
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise MetaError(f"{where}.marginTables is not a list")
    tables: dict[int, list[dict]] = {}
    for i, item in enumerate(raw):
        at = f"{where}.marginTables[{i}]"
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[1], dict)):
            raise MetaError(f"{at} is not an [id, table] pair")
        table_id, table = item
        if not isinstance(table_id, int) or isinstance(table_id, bool):
            raise MetaError(f"{at}[0] (the table id) is {table_id!r}, not a whole number")
        tiers_raw = table.get("marginTiers")
        if not isinstance(tiers_raw, list):
            raise MetaError(f"{at}[1].marginTiers is missing or not a list")
        tiers = []
        for j, tier in enumerate(tiers_raw):
            tier_at = f"{at}[1].marginTiers[{j}]"
            if not isinstance(tier, dict):
                raise MetaError(f"{tier_at} is not an object")
            bound = _decimal(tier.get("lowerBound"), f"{tier_at}.lowerBound", required=True)
            leverage = _whole(tier, "maxLeverage", tier_at, low=1, high=1000)
            tiers.append({"lower_bound": f"{bound:f}", "max_leverage": leverage})
        tables[table_id] = tiers
    return tables


def _ctx(raw: object, where: str) -> dict[str, Decimal | None]:
    if not isinstance(raw, dict):
        raise MetaError(f"{where} is not an object")
    return {ours: _decimal(raw.get(key), f"{where}.{key}") for ours, key in CTX_FIELDS.items()}


def _decimal(raw: object, where: str, *, required: bool = False) -> Decimal | None:
    if raw is None:
        if required:
            raise MetaError(f"{where} is missing")
        return None
    # Hyperliquid sends decimal strings; a bare number would have passed through a float.
    if not isinstance(raw, str):
        raise MetaError(f"{where} is {raw!r}, not a decimal string")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise MetaError(f"{where} is {raw!r}, not a decimal") from None
    if not value.is_finite():
        raise MetaError(f"{where} is {raw!r}, not a finite decimal")
    return value
