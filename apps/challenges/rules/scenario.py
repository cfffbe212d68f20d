"""Reading a scenario document and refusing anything the contract refuses.

The contract is ../shared/spec/scenario-format.md. Every refusal is a `ScenarioError`
whose text is one line starting with the offending field's path
(`events[3].price: not a decimal`), so a typo never changes a verdict silently.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from .model import (
    AMOUNT_KINDS,
    ANCHORS,
    BASES,
    BREACH_WHEN,
    CONSISTENCY_OF,
    MAX_LOSS_ANCHORS,
    QUALIFYING_KINDS,
    REBASES,
    SIDES,
    Account,
    Adjustment,
    Amount,
    Consistency,
    DayReset,
    End,
    Event,
    Fill,
    Funding,
    LossRule,
    Mark,
    MinTradingDays,
    ProfitTarget,
    Rules,
    Scenario,
)

ZERO = Decimal(0)
_MAX_DAYS = 999_999_999  # timedelta's limit
_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_HHMM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_TIME = re.compile(
    r"(?P<local>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)"
    r"(?P<offset>Z|[+-][0-9]{2}:?[0-9]{2})?"
)


class ScenarioError(ValueError):
    """A scenario the contract refuses. `str()` is one line: `path: what is wrong`."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path or "$"
        self.message = " ".join(message.split())  # one line, whatever the cause said
        super().__init__(f"{self.path}: {self.message}")


class _Object(dict):
    """A JSON object that remembers which keys it saw twice (json keeps only the last)."""

    duplicates: tuple[str, ...] = ()


def _object_pairs(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        obj.duplicates = tuple(k for k, _ in pairs if k in seen or seen.add(k))
    return obj


def load_json(text: str) -> Any:
    """Parse JSON keeping what the contract must see: duplicate keys, numbers as numbers."""
    try:
        return json.loads(text, object_pairs_hook=_object_pairs)
    except json.JSONDecodeError as exc:
        raise ScenarioError(
            "$", f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise ScenarioError("$", f"not JSON: {exc}") from None


def parse_scenario(text: str) -> Scenario:
    """A scenario from its JSON text, or a `ScenarioError` naming the first bad field."""
    return scenario_from_json(load_json(text))


def scenario_from_json(doc: Any) -> Scenario:
    """A scenario from an already-loaded JSON value (see `load_json` for duplicate keys)."""
    top = _Fields(doc, "", {"name", "account", "rules", "events", "expect"})
    name = top.opt("name")
    if name is not None and not isinstance(name, str):
        raise ScenarioError("name", "not a string")
    account = account_from_json(top.req("account"), "account")
    rules = rules_from_json(top.req("rules"), "rules")
    if rules.max_duration_days is not None:
        try:
            account.start + timedelta(days=rules.max_duration_days)
        except OverflowError:
            raise ScenarioError("rules.max_duration_days", "too large") from None
    raw_events = top.req("events")
    if not isinstance(raw_events, list):
        raise ScenarioError("events", "not a list")
    events: list[Event] = []
    previous = account.start
    for i, raw in enumerate(raw_events):
        path = f"events[{i}]"
        event = event_from_json(raw, path)
        if event.t < account.start:
            raise ScenarioError(f"{path}.t", "before account.start")
        if event.t < previous:
            raise ScenarioError(f"{path}.t", f"earlier than events[{i - 1}].t (out of order)")
        if events and isinstance(events[-1], End):
            raise ScenarioError(f"events[{i - 1}].type", "end must be the last event")
        previous = event.t
        events.append(event)
    return Scenario(account=account, rules=rules, events=tuple(events), name=name)


def account_from_json(value: Any, path: str = "account") -> Account:
    f = _Fields(value, path, {"currency", "starting_balance", "start"})
    currency = f.req("currency")
    if not isinstance(currency, str) or not currency.strip():
        raise ScenarioError(f"{path}.currency", "not a currency code")
    balance = _decimal(f.req("starting_balance"), f"{path}.starting_balance", positive=True)
    return Account(
        currency=currency, starting_balance=balance, start=_time(f.req("start"), f"{path}.start")
    )


def rules_from_json(value: Any, path: str = "rules") -> Rules:
    keys = {
        "day_reset",
        "breach_when",
        "profit_target",
        "daily_loss",
        "max_loss",
        "min_trading_days",
        "max_duration_days",
        "consistency",
    }
    f = _Fields(value, path, keys)
    duration = f.opt("max_duration_days")
    if duration is not None:
        duration = _integer(duration, f"{path}.max_duration_days", minimum=1)
        if duration > _MAX_DAYS:
            raise ScenarioError(f"{path}.max_duration_days", "too large")
    return Rules(
        day_reset=_day_reset(f.req("day_reset"), f"{path}.day_reset"),
        breach_when=_choice(f.req("breach_when"), f"{path}.breach_when", BREACH_WHEN),
        profit_target=f.nullable("profit_target", _profit_target),
        daily_loss=f.nullable("daily_loss", _daily_loss),
        max_loss=f.nullable("max_loss", _max_loss),
        min_trading_days=f.nullable("min_trading_days", _min_trading_days),
        max_duration_days=duration,
        consistency=f.nullable("consistency", _consistency),
    )


def event_from_json(value: Any, path: str) -> Event:
    if not isinstance(value, dict):
        raise ScenarioError(path, "not an object")
    kind = value.get("type")
    if "type" not in value:
        raise ScenarioError(f"{path}.type", "missing")
    maker = _EVENT_MAKERS.get(kind) if isinstance(kind, str) else None
    if maker is None:
        raise ScenarioError(
            f"{path}.type", f"unknown event type (one of {', '.join(_EVENT_MAKERS)})"
        )
    return maker(value, path)


# --- rules -------------------------------------------------------------------------------


def _day_reset(value: Any, path: str) -> DayReset:
    f = _Fields(value, path, {"timezone", "time"})
    name = f.req("timezone")
    if not isinstance(name, str) or not _known_zone(name):
        raise ScenarioError(f"{path}.timezone", "not a known IANA time zone")
    time = f.req("time")
    match = _HHMM.fullmatch(time) if isinstance(time, str) else None
    if match is None:
        raise ScenarioError(f"{path}.time", "not a time HH:MM from 00:00 to 23:59")
    return DayReset(timezone=name, hour=int(match[1]), minute=int(match[2]))


@lru_cache(maxsize=256)
def _known_zone(name: str) -> bool:
    # ZoneInfo alone also opens any file under the zone path ("posixrules", "localtime"):
    # only names of the IANA database itself are accepted.
    zones = _zone_names()
    if zones and name not in zones:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def _profit_target(value: Any, path: str) -> ProfitTarget:
    f = _Fields(value, path, {"amount", "basis"})
    basis = f.opt("basis")
    return ProfitTarget(
        amount=_amount(f.req("amount"), f"{path}.amount", ("fixed", "pct_of_initial")),
        basis="balance" if basis is None else _choice(basis, f"{path}.basis", BASES),
    )


def _daily_loss(value: Any, path: str) -> LossRule:
    f = _Fields(value, path, {"anchor", "amount"})
    return LossRule(
        anchor=_choice(f.req("anchor"), f"{path}.anchor", ANCHORS),
        amount=_amount(f.req("amount"), f"{path}.amount", AMOUNT_KINDS),
    )


def _max_loss(value: Any, path: str) -> LossRule:
    f = _Fields(value, path, {"anchor", "amount", "lock_at"})
    lock = f.opt("lock_at")
    return LossRule(
        anchor=_choice(f.req("anchor"), f"{path}.anchor", MAX_LOSS_ANCHORS),
        amount=_amount(f.req("amount"), f"{path}.amount", AMOUNT_KINDS),
        lock_at=None
        if lock is None
        else _amount(lock, f"{path}.lock_at", ("fixed", "pct_of_initial")),
    )


def _min_trading_days(value: Any, path: str) -> MinTradingDays:
    f = _Fields(value, path, {"count", "qualifying"})
    count = _integer(f.req("count"), f"{path}.count", minimum=0)
    qpath = f"{path}.qualifying"
    q = _Fields(f.req("qualifying"), qpath, {"kind", "min_pct_of_initial"})
    kind = _choice(q.req("kind"), f"{qpath}.kind", QUALIFYING_KINDS)
    if kind == "any_trade":
        if "min_pct_of_initial" in q.obj:
            raise ScenarioError(f"{qpath}.min_pct_of_initial", "unknown key for kind any_trade")
        return MinTradingDays(count=count, kind=kind)
    pct = _decimal(q.req("min_pct_of_initial"), f"{qpath}.min_pct_of_initial", minimum=ZERO)
    return MinTradingDays(count=count, kind=kind, min_pct_of_initial=pct)


def _consistency(value: Any, path: str) -> Consistency:
    f = _Fields(value, path, {"max_best_day_share_pct", "of"})
    of = f.opt("of")
    return Consistency(
        max_best_day_share_pct=_decimal(
            f.req("max_best_day_share_pct"), f"{path}.max_best_day_share_pct", minimum=ZERO
        ),
        of="net_profit" if of is None else _choice(of, f"{path}.of", CONSISTENCY_OF),
    )


def _amount(value: Any, path: str, allowed: tuple[str, ...]) -> Amount:
    f = _Fields(value, path, set(AMOUNT_KINDS))
    kinds = [k for k in AMOUNT_KINDS if k in f.obj]
    if len(kinds) != 1:
        raise ScenarioError(path, f"needs exactly one of {', '.join(allowed)} (found {len(kinds)})")
    kind = kinds[0]
    if kind not in allowed:
        raise ScenarioError(f"{path}.{kind}", f"not allowed here (one of {', '.join(allowed)})")
    return Amount(kind=kind, value=_decimal(f.obj[kind], f"{path}.{kind}", minimum=ZERO))


# --- events ------------------------------------------------------------------------------


def _mark(value: Any, path: str) -> Mark:
    f = _Fields(value, path, {"t", "type", "symbol", "price"})
    return Mark(
        t=_time(f.req("t"), f"{path}.t"),
        symbol=_symbol(f.req("symbol"), f"{path}.symbol"),
        price=_decimal(f.req("price"), f"{path}.price", positive=True),
    )


def _fill(value: Any, path: str) -> Fill:
    f = _Fields(value, path, {"t", "type", "symbol", "side", "qty", "price", "fee"})
    fee = f.opt("fee")
    return Fill(
        t=_time(f.req("t"), f"{path}.t"),
        symbol=_symbol(f.req("symbol"), f"{path}.symbol"),
        side=_choice(f.req("side"), f"{path}.side", SIDES),
        qty=_decimal(f.req("qty"), f"{path}.qty", positive=True),
        price=_decimal(f.req("price"), f"{path}.price", positive=True),
        fee=ZERO if fee is None else _decimal(fee, f"{path}.fee", minimum=ZERO),
    )


def _funding(value: Any, path: str) -> Funding:
    f = _Fields(value, path, {"t", "type", "symbol", "amount"})
    return Funding(
        t=_time(f.req("t"), f"{path}.t"),
        symbol=_symbol(f.req("symbol"), f"{path}.symbol"),
        amount=_decimal(f.req("amount"), f"{path}.amount"),
    )


def _adjustment(value: Any, path: str) -> Adjustment:
    f = _Fields(value, path, {"t", "type", "amount", "rebase"})
    return Adjustment(
        t=_time(f.req("t"), f"{path}.t"),
        amount=_decimal(f.req("amount"), f"{path}.amount"),
        rebase=_choice(f.req("rebase"), f"{path}.rebase", REBASES),
    )


def _end(value: Any, path: str) -> End:
    f = _Fields(value, path, {"t", "type"})
    return End(t=_time(f.req("t"), f"{path}.t"))


_EVENT_MAKERS: dict[str, Callable[[Any, str], Event]] = {
    "mark": _mark,
    "fill": _fill,
    "funding": _funding,
    "adjustment": _adjustment,
    "end": _end,
}


# --- scalars -----------------------------------------------------------------------------


class _Fields:
    """An object's keys read by path: unknown and duplicate keys are refused up front."""

    def __init__(self, value: Any, path: str, allowed: set[str]) -> None:
        if not isinstance(value, dict):
            raise ScenarioError(path, "not an object")
        for key in getattr(value, "duplicates", ()):
            raise ScenarioError(_join(path, key), "duplicate key")
        for key in value:
            if key not in allowed:
                raise ScenarioError(_join(path, key), "unknown key")
        self.obj: dict[str, Any] = value
        self.path = path

    def req(self, key: str) -> Any:
        if key not in self.obj:
            raise ScenarioError(_join(self.path, key), "missing")
        return self.obj[key]

    def opt(self, key: str) -> Any:
        return self.obj.get(key)

    def nullable(self, key: str, make: Callable[[Any, str], Any]) -> Any:
        value = self.obj.get(key)
        return None if value is None else make(value, _join(self.path, key))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _decimal(
    value: Any, path: str, *, positive: bool = False, minimum: Decimal | None = None
) -> Decimal:
    if not isinstance(value, str):
        number = isinstance(value, int | float) and not isinstance(value, bool)
        why = "a JSON number, write it as a string" if number else "not a string"
        raise ScenarioError(path, f"not a decimal ({why})")
    if not _DECIMAL.fullmatch(value):
        raise ScenarioError(path, f"not a decimal ({value[:40]!r})")
    number = Decimal(value)
    if positive and number <= 0:
        raise ScenarioError(path, "must be greater than 0")
    if minimum is not None and number < minimum:
        raise ScenarioError(path, f"must be at least {minimum}")
    return number


def _integer(value: Any, path: str, *, minimum: int) -> int:
    if type(value) is not int:
        raise ScenarioError(path, "not a JSON integer")
    if value < minimum:
        raise ScenarioError(path, f"must be at least {minimum}")
    return value


def _choice(value: Any, path: str, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ScenarioError(path, f"must be one of {', '.join(allowed)}")
    return value


def _symbol(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ScenarioError(path, "not a symbol")
    return value


def _time(value: Any, path: str) -> datetime:
    if not isinstance(value, str):
        raise ScenarioError(path, "not a time string")
    match = _TIME.fullmatch(value)
    if match is None:
        raise ScenarioError(path, "not an ISO 8601 time (YYYY-MM-DDTHH:MM:SS with Z or an offset)")
    if match["offset"] is None:
        raise ScenarioError(path, "naive time (no UTC offset)")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ScenarioError(path, "not a valid time") from None
    return parsed.astimezone(UTC)
