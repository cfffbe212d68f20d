"""The pure arithmetic of payouts: periods, the high-water mark, the split and the checks a
payout must pass. Plain values in, plain values out: no Django, so the run over thousands of
accounts and the trader's single request decide in exactly the same way.

The high-water mark is on balance, counted before payouts: `high_water_mark` is the highest
level of (balance + everything already paid out) that has been paid out up to. Only profit
above it is distributable, so a loss must be recovered before the next payout, and a payout
raises the mark by exactly what it paid.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from apps.core.money import round_money

ZERO, HUNDRED = Decimal("0"), Decimal("100")
# Two-week periods are counted from a fixed Monday, so every bi-weekly account shares them.
BIWEEKLY_ANCHOR = date(2024, 1, 1)
FREQUENCIES = ("biweekly", "monthly", "on_request")
RUN_FREQUENCIES = ("biweekly", "monthly")


# --- periods ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    label: str
    start: date  # first day (UTC)
    end: date  # the day after the last

    @property
    def starts_at(self) -> datetime:
        return datetime.combine(self.start, time(), tzinfo=UTC)

    @property
    def ends_at(self) -> datetime:
        return datetime.combine(self.end, time(), tzinfo=UTC)


def period_of(frequency: str, at: datetime) -> Period:
    """The payout period holding `at`: two-week windows for bi-weekly plans, calendar months
    for monthly and on-request plans (on request: at most one payout a month)."""
    if frequency not in FREQUENCIES:
        raise ValueError(f"unknown payout frequency {frequency!r}")
    day = at.astimezone(UTC).date()
    if frequency == "biweekly":
        start = BIWEEKLY_ANCHOR + timedelta(days=14 * ((day - BIWEEKLY_ANCHOR).days // 14))
        end = start + timedelta(days=14)
        return Period(f"{start:%Y-%m-%d}..{end - timedelta(days=1):%Y-%m-%d}", start, end)
    start = day.replace(day=1)
    end = (start + timedelta(days=32)).replace(day=1)
    return Period(f"{start:%Y-%m}", start, end)


def previous_period(frequency: str, at: datetime) -> Period:
    """The last period that has ended by `at`: what a payout run at `at` pays."""
    return period_of(frequency, period_of(frequency, at).starts_at - timedelta(days=1))


def period_named(frequency: str, label: str) -> Period:
    """The period a label names (as written by `period_of`); ValueError when it names none."""
    try:
        if frequency == "biweekly":
            first = date.fromisoformat(label.split("..")[0])
        else:
            first = date.fromisoformat(f"{label}-01")
    except (ValueError, IndexError):
        raise ValueError(f"{label!r} is not a {frequency} payout period") from None
    period = period_of(frequency, datetime.combine(first, time(), tzinfo=UTC))
    if period.label != label:
        raise ValueError(f"{label!r} is not a {frequency} payout period (try {period.label})")
    return period


def add_months(at: datetime, months: int) -> datetime:
    """The same day `months` calendar months later (the month's last day where it is short)."""
    month0 = at.month - 1 + months
    year, month = at.year + month0 // 12, month0 % 12 + 1
    following = date(year + (month == 12), month % 12 + 1, 1)
    last_day = (following - timedelta(days=1)).day
    return at.replace(year=year, month=month, day=min(at.day, last_day))


def next_payout_at(
    *,
    frequency: str,
    funded_at: datetime,
    first_payout_days: int,
    now: datetime,
    period_taken: bool,
) -> datetime:
    """When the account can next be paid: a run at the start of each period pays the period
    just ended; on request, any time after the first waiting period, once a period."""
    earliest = funded_at + timedelta(days=first_payout_days)
    if frequency == "on_request":
        at = max(now, earliest)
        if period_taken:
            at = max(at, period_of(frequency, now).ends_at)
        return at
    at = period_of(frequency, now).ends_at
    while at < earliest:
        at = period_of(frequency, at).ends_at
    return at


# --- figures ---------------------------------------------------------------------------------


def distributable(*, balance: Decimal, high_water_mark: Decimal, paid_out: Decimal) -> Decimal:
    """Profit above the high-water mark, to the cent; negative while a loss is unrecovered."""
    return round_money(balance + paid_out - high_water_mark)


@dataclass(frozen=True)
class Figures:
    gross: Decimal  # the profit that leaves the account (one `payout` ledger entry)
    split_pct: Decimal
    trader_share: Decimal
    firm_share: Decimal
    refund: Decimal  # the challenge fee, with the first payout (paid by the firm)
    amount: Decimal  # what the trader receives: their share and the refund


def split(gross: Decimal, split_pct: Decimal, refund: Decimal, currency: str = "USD") -> Figures:
    """The trader's share is rounded; the firm's share is the rest, so the two add up to the
    gross to the cent."""
    trader = round_money(gross * split_pct / HUNDRED, currency)
    return Figures(
        gross=gross,
        split_pct=split_pct,
        trader_share=trader,
        firm_share=gross - trader,
        refund=refund,
        amount=trader + refund,
    )


# --- consistency -----------------------------------------------------------------------------


def trading_day_of(at: datetime, timezone: str, reset_hhmm: str) -> date:
    """The trading day an instant belongs to, with days starting at the rule set's reset."""
    hours, minutes = (int(part) for part in reset_hhmm.split(":"))
    local = at.astimezone(ZoneInfo(timezone))
    return (local - timedelta(hours=hours, minutes=minutes)).date()


def day_pnls(
    entries: Iterable[tuple[datetime, Decimal]], timezone: str, reset_hhmm: str
) -> list[Decimal]:
    """P&L per trading day from (time, amount) ledger entries, oldest day first."""
    days: dict[date, Decimal] = {}
    for at, amount in entries:
        day = trading_day_of(at, timezone, reset_hhmm)
        days[day] = days.get(day, ZERO) + amount
    return [days[d] for d in sorted(days)]


def consistency_problem(pnls: list[Decimal], max_share_pct: Decimal | None, of: str) -> str:
    """Why the period's profit fails the rule set's consistency rule ("" when it passes): the
    best day's P&L may be at most `max_share_pct` % of the net profit (or of the positive
    days), compared exactly, as the rules engine does."""
    if max_share_pct is None or not pnls:
        return ""
    best = max(pnls)
    denominator = sum(pnls, ZERO) if of == "net_profit" else sum((p for p in pnls if p > 0), ZERO)
    if denominator <= 0:
        return "This period has no profit to measure the consistency rule on."
    if best * HUNDRED <= max_share_pct * denominator:
        return ""
    share = round_money(best * HUNDRED / denominator)
    return (
        f"Consistency rule: your best day ({round_money(best):,}) is {share}% of this period's "
        f"profit ({round_money(denominator):,}); at most {max_share_pct.normalize():f}% is "
        "allowed. The profit stays in your account and counts toward your next payout."
    )


# --- the checks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """Everything a payout decision reads about one account, as plain values."""

    currency: str
    frequency: str
    funded_at: datetime
    first_payout_days: int
    min_payout: Decimal
    requires_flat: bool
    split_pct: Decimal
    refund_due: Decimal
    balance: Decimal
    high_water_mark: Decimal
    paid_out: Decimal
    open_positions: tuple[str, ...]
    kyc_status: str  # "" when the trader has no profile
    destination: str
    period_taken: str  # the status of this period's payout in flight or done, else ""
    consistency: str = ""  # consistency_problem()'s answer for this period


@dataclass(frozen=True)
class Problem:
    code: str
    message: str
    hold: bool  # a run records the payout as held with this reason; else it skips quietly


def _money(amount: Decimal, currency: str) -> str:
    return f"{round_money(amount, currency):,} {currency}"


KYC_WORDS = {
    "": "not started (complete your profile)",
    "not_submitted": "not submitted",
    "pending": "still under review",
    "rejected": "rejected",
}


def assess(facts: Facts, *, now: datetime, period: Period) -> tuple[Figures, list[Problem]]:
    """The payout this account would get now for `period`, and every reason it cannot."""
    gross = distributable(
        balance=facts.balance, high_water_mark=facts.high_water_mark, paid_out=facts.paid_out
    )
    figures = split(max(gross, ZERO), facts.split_pct, facts.refund_due, facts.currency)
    problems: list[Problem] = []
    earliest = facts.funded_at + timedelta(days=facts.first_payout_days)
    if now < earliest:
        problems.append(
            Problem(
                "waiting_period",
                f"Your first payout is possible from {earliest:%Y-%m-%d %H:%M} UTC "
                f"({facts.first_payout_days} days after funding).",
                hold=False,
            )
        )
    if facts.period_taken:
        problems.append(
            Problem(
                "period_taken",
                f"There is already a payout for {period.label} ({facts.period_taken}); one "
                f"payout per period: the next is possible from {period.end:%Y-%m-%d}.",
                hold=False,
            )
        )
    if gross < facts.min_payout:
        if gross < 0:
            message = (
                f"Your balance is {_money(-gross, facts.currency)} below your high-water mark: "
                "losses must be recovered before the next payout."
            )
        else:
            message = (
                f"The profit above your high-water mark is {_money(gross, facts.currency)}, "
                f"below the minimum payout of {_money(facts.min_payout, facts.currency)}."
            )
        problems.append(Problem("below_minimum", message, hold=False))
    if facts.kyc_status != "approved":
        problems.append(
            Problem(
                "kyc",
                f"Your KYC is {KYC_WORDS.get(facts.kyc_status, facts.kyc_status)}: a payout "
                "needs an approved KYC.",
                hold=True,
            )
        )
    elif not facts.destination:
        problems.append(
            Problem(
                "destination",
                "Add a payout destination (a USDC address or a bank reference) to your profile.",
                hold=True,
            )
        )
    if facts.requires_flat and facts.open_positions:
        problems.append(
            Problem(
                "open_positions",
                f"Close your open positions ({', '.join(facts.open_positions)}) first: this "
                "plan pays out only from a flat account.",
                hold=True,
            )
        )
    if facts.consistency:
        problems.append(Problem("consistency", facts.consistency, hold=True))
    return figures, problems


def request_order(problems: list[Problem]) -> list[Problem]:
    """For a trader's request: what a person can act on first (the waiting period, then the
    period, then the profile, positions, amount and consistency)."""
    order = [
        "waiting_period",
        "period_taken",
        "kyc",
        "destination",
        "open_positions",
        "below_minimum",
        "consistency",
    ]
    return sorted(problems, key=lambda p: order.index(p.code))
