"""Writes of the market app: loading instruments, recorded mids, the fee schedule, candles."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection, models, transaction

from apps.core import clock
from apps.core.money import MoneyError, to_decimal
from apps.core.services import audit_record
from apps.market.candles import Bar
from apps.market.meta import CTX_FIELDS, parse_meta
from apps.market.models import MAX_FEE_RATE, FeeSchedule, Instrument

# One audit chain for the instrument universe: loads are rare and read as one history.
UNIVERSE_SUBJECT = ("market.universe", "hyperliquid")
SPEC_FIELDS = (
    "asset_index",
    "sz_decimals",
    "max_leverage",
    "only_isolated",
    "is_delisted",
    "margin_table_id",
    "margin_tiers",
)


class MarketError(Exception):
    """A request a person can correct; the message says how."""


@dataclass
class LoadResult:
    created: list[str] = field(default_factory=list)
    updated: dict[str, list[str]] = field(default_factory=dict)
    unchanged: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)


@transaction.atomic
def instruments_load(
    *, payload: object, source: str = "", actor: models.Model | None = None
) -> LoadResult:
    """Create or update instruments from a `meta` or `metaAndAssetCtxs` answer.

    Idempotent: loading the same payload again changes nothing and writes no audit event.
    Coins absent from the payload are left alone (Hyperliquid keeps delisted coins in its
    universe, flagged, so absence means an older or partial answer, not a delisting).
    Raises MetaError (a ValueError) before writing anything when the payload is malformed.
    """
    specs = parse_meta(payload)
    # Serialise loads (the same lock audit_record takes for this subject), so two loads that
    # both see a coin missing cannot both insert it.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [":".join(UNIVERSE_SUBJECT)]
        )
    now = clock.now()
    existing = {
        i.coin: i
        for i in Instrument.objects.select_for_update().filter(coin__in=[s.coin for s in specs])
    }
    result = LoadResult()
    for spec in specs:
        values = {name: getattr(spec, name) for name in SPEC_FIELDS}
        if spec.prices is not None:
            values.update({k: v for k, v in spec.prices.items() if v is not None})
        instrument = existing.get(spec.coin)
        if instrument is None:
            Instrument.objects.create(
                coin=spec.coin,
                active=not spec.is_delisted,
                prices_at=now if spec.prices is not None else None,
                created_at=now,
                updated_at=now,
                **values,
            )
            result.created.append(spec.coin)
            continue
        changed = [name for name, value in values.items() if getattr(instrument, name) != value]
        # A delisting stops trading; relisting does not restart it (the firm decides that).
        if spec.is_delisted and instrument.active:
            instrument.active = False
            changed.append("active")
        if not changed:
            result.unchanged += 1
            continue
        for name in changed:
            if name != "active":
                setattr(instrument, name, values[name])
        instrument.updated_at = now
        if any(name in CTX_FIELDS for name in changed):
            instrument.prices_at = now
        instrument.save()
        result.updated[spec.coin] = changed
    if result.changed:
        audit_record(
            action="market.instruments_loaded",
            subject=UNIVERSE_SUBJECT,
            actor=actor,
            after={
                "source": source,
                "shape": "metaAndAssetCtxs" if isinstance(payload, list) else "meta",
                "created": result.created,
                "updated": result.updated,
                "unchanged": result.unchanged,
            },
        )
    return result


@transaction.atomic
def instrument_mids_record(
    *, mids: Mapping[str, object], source: str = "", actor: models.Model | None = None
) -> list[str]:
    """Record mid prices (an `allMids` answer) on the instruments we list; returns the coins
    whose mid changed. Coins we do not list (spot pairs like "@142") are ignored."""
    parsed: dict[str, Decimal] = {}
    for coin, raw in mids.items():
        try:
            value = to_decimal(raw)
        except MoneyError as exc:
            raise MarketError(f"mid of {coin}: {exc}") from None
        if value <= 0:
            raise MarketError(f"mid of {coin} is {value}, not a positive price")
        parsed[coin] = value
    now = clock.now()
    changed = []
    for instrument in Instrument.objects.select_for_update().filter(coin__in=list(parsed)):
        if instrument.mid_px != parsed[instrument.coin]:
            instrument.mid_px = parsed[instrument.coin]
            instrument.prices_at = instrument.updated_at = now
            instrument.save(update_fields=["mid_px", "prices_at", "updated_at"])
            changed.append(instrument.coin)
    if changed:
        audit_record(
            action="market.mids_recorded",
            subject=UNIVERSE_SUBJECT,
            actor=actor,
            after={"source": source, "mids": {c: f"{parsed[c]:f}" for c in sorted(changed)}},
        )
    return sorted(changed)


def _fee_rates(taker_rate: object, maker_rate: object) -> tuple[Decimal, Decimal]:
    try:
        taker, maker = to_decimal(taker_rate), to_decimal(maker_rate)
    except MoneyError as exc:
        raise MarketError(f"A fee rate must be a decimal fraction: {exc}") from None
    if not 0 <= taker <= MAX_FEE_RATE:
        raise MarketError(
            f"The taker rate {taker} is outside 0..{MAX_FEE_RATE}: rates are fractions "
            "(0.00045 is 0.045 %), not percentages."
        )
    if not -taker <= maker <= taker:
        raise MarketError(
            f"The maker rate {maker} must lie between minus and plus the taker rate {taker}: "
            "a maker pays no more than a taker, and a rebate never exceeds the taker fee."
        )
    return taker, maker


def fee_schedule_check(
    *, schedule_id: int | None, name: str, taker_rate: object, maker_rate: object, is_default: bool
) -> tuple[str, Decimal, Decimal]:
    """The cleaned (name, taker, maker) of a fee schedule edit, or a MarketError saying what to
    correct. Writes nothing: the admin's form calls it to show errors beside the fields."""
    name = (name or "").strip()
    if not name:
        raise MarketError("A fee schedule needs a name.")
    taker, maker = _fee_rates(taker_rate, maker_rate)
    if FeeSchedule.objects.filter(name=name).exclude(pk=schedule_id).exists():
        raise MarketError(f"A fee schedule named {name!r} already exists.")
    unsetting = schedule_id is not None and not is_default
    if unsetting and FeeSchedule.objects.filter(pk=schedule_id, is_default=True).exists():
        raise MarketError(
            "This is the default schedule; make another schedule the default instead of "
            "unsetting it, so fills always have a schedule."
        )
    return name, taker, maker


@transaction.atomic
def fee_schedule_save(
    *,
    schedule_id: int | None,
    name: str,
    taker_rate: object,
    maker_rate: object,
    is_default: bool,
    actor: models.Model | None = None,
) -> FeeSchedule:
    """Create or edit a fee schedule. Making it the default unsets the previous default in the
    same transaction; the only default cannot be unset (make another one the default)."""
    # Lock the current default first, so two admins making two schedules the default at once
    # are serialised: the second sees the first's result, and exactly one default remains.
    current_default = (
        FeeSchedule.objects.select_for_update().filter(is_default=True).order_by("pk").first()
    )
    name, taker, maker = fee_schedule_check(
        schedule_id=schedule_id,
        name=name,
        taker_rate=taker_rate,
        maker_rate=maker_rate,
        is_default=is_default,
    )
    if schedule_id is None:
        schedule, before = FeeSchedule(), None
    else:
        schedule = FeeSchedule.objects.select_for_update().get(pk=schedule_id)
        before = _fee_snapshot(schedule)
    now = clock.now()
    if is_default and current_default is not None and current_default.pk != schedule.pk:
        current_default.is_default = False
        current_default.updated_at = now
        current_default.save(update_fields=["is_default", "updated_at"])
        audit_record(
            action="market.fee_schedule_saved",
            subject=current_default,
            actor=actor,
            before={**_fee_snapshot(current_default), "is_default": True},
            after=_fee_snapshot(current_default),
        )
    schedule.name, schedule.taker_rate, schedule.maker_rate = name, taker, maker
    # The first schedule ever is the default whatever was ticked: there must always be one.
    schedule.is_default = is_default or current_default is None
    schedule.updated_at = now
    schedule.save()
    audit_record(
        action="market.fee_schedule_saved",
        subject=schedule,
        actor=actor,
        before=before,
        after=_fee_snapshot(schedule),
    )
    return schedule


@transaction.atomic
def instrument_set_active(
    *, instrument_id: int, active: bool, actor: models.Model | None = None
) -> Instrument:
    """Offer an instrument to traders or withdraw it (the firm's choice, audited)."""
    instrument = Instrument.objects.select_for_update().get(pk=instrument_id)
    if active and instrument.is_delisted:
        raise MarketError(f"{instrument.coin} is delisted on Hyperliquid and cannot be offered.")
    if instrument.active == active:
        return instrument
    instrument.active = active
    instrument.updated_at = clock.now()
    instrument.save(update_fields=["active", "updated_at"])
    audit_record(
        action="market.instrument_offered" if active else "market.instrument_withdrawn",
        subject=instrument,
        actor=actor,
        before={"active": not active},
        after={"active": active},
    )
    return instrument


def _fee_snapshot(schedule: FeeSchedule) -> dict:
    return {
        "name": schedule.name,
        "taker_rate": f"{schedule.taker_rate:f}",
        "maker_rate": f"{schedule.maker_rate:f}",
        "is_default": schedule.is_default,
    }


_CANDLE_UPSERT = """
INSERT INTO market_candle (instrument_id, interval, start, open, high, low, close)
VALUES {rows}
ON CONFLICT (instrument_id, interval, start) DO UPDATE SET
    high = GREATEST(market_candle.high, EXCLUDED.high),
    low = LEAST(market_candle.low, EXCLUDED.low),
    close = EXCLUDED.close
"""
_CANDLE_BATCH = 500


@transaction.atomic
def candles_upsert(*, bars: Iterable[Bar], instrument_ids: Mapping[str, int]) -> int:
    """Merge aggregated bars into the stored candles; returns how many bars were written.

    The stored open stays, high and low widen, close takes the later value, so a bar that
    continues a stored candle (after a flush or a restart) extends it. Not audited: candles are
    market data derived from frames, rewritten every second, not a business decision.
    Bars of coins without an instrument are skipped.
    """
    rows = [
        (instrument_ids[b.coin], b.interval, b.start, b.open, b.high, b.low, b.close)
        for b in bars
        if b.coin in instrument_ids
    ]
    # One statement per batch: ON CONFLICT cannot touch the same row twice in one statement,
    # and the keys in `bars` are unique, so a batch never holds a key twice.
    with connection.cursor() as cursor:
        for i in range(0, len(rows), _CANDLE_BATCH):
            batch = rows[i : i + _CANDLE_BATCH]
            values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(batch))
            sql = _CANDLE_UPSERT.format(rows=values)
            cursor.execute(sql, [value for row in batch for value in row])
    return len(rows)
