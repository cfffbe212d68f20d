"""The daily reconciliation: our books (ledger balance, positions) against each venue's own.

- paper: the paper venue's book of each open account (`venue_for(account).balance(...)`);
- hyperliquid: one `subAccounts` call per master (`positions_and_balances`), compared with the
  trading account each sub-account is assigned to; a sub-account the venue lists that we do
  not know is a difference too.

Every difference is recorded on the run and raised as an alert (one open alert per account,
kind and coin); a venue that cannot be read is recorded as an error and alerted, never taken
as "no difference".
"""

from __future__ import annotations

from decimal import Decimal

from celery import shared_task
from django.db import transaction

from apps.core import clock
from apps.risk.alerts import alert_raise
from apps.risk.models import Alert, ReconciliationDifference, ReconciliationRun
from apps.trading.models import Position, TradingAccount, Venue
from apps.trading.services import venue_account_of
from apps.trading.venues.base import VenueBalance
from apps.trading.venues.registry import venue_for

# The ledger keeps six places, a venue two or more: a cent is a real difference, less is not.
BALANCE_TOLERANCE = Decimal("0.01")
ZERO = Decimal(0)


def _plain(value: Decimal) -> str:
    return f"{value.normalize():f}" if value else "0"


def _ours(account: TradingAccount) -> dict[str, Decimal]:
    return {
        coin: size
        for coin, size in Position.objects.filter(account=account)
        .exclude(size=0)
        .values_list("coin", "size")
    }


def _compare(
    run: ReconciliationRun,
    account: TradingAccount | None,
    venue_account: str,
    venue: str,
    ours: tuple[Decimal, dict[str, Decimal]] | None,
    theirs: VenueBalance | None,
) -> list[ReconciliationDifference]:
    found: list[ReconciliationDifference] = []

    def diff(kind: str, coin: str = "", mine: object = "", venue_side: object = "", note=""):
        found.append(
            ReconciliationDifference(
                run=run,
                account=account,
                venue=venue,
                venue_account=venue_account,
                kind=kind,
                coin=coin,
                ours=str(mine),
                theirs=str(venue_side),
                note=note,
            )
        )

    if ours is None or theirs is None:
        diff(
            ReconciliationDifference.Kind.MISSING,
            note="The venue does not know this account."
            if theirs is None
            else "The venue lists an account we have no record of.",
        )
        return found
    balance, positions = ours
    if abs(balance - theirs.balance) >= BALANCE_TOLERANCE:
        diff(ReconciliationDifference.Kind.BALANCE, "", f"{balance:f}", f"{theirs.balance:f}")
    venue_positions = {p.coin: p.size for p in theirs.positions if p.size}
    for coin in sorted(set(positions) | set(venue_positions)):
        mine, other = positions.get(coin, ZERO), venue_positions.get(coin, ZERO)
        if mine != other:
            diff(ReconciliationDifference.Kind.POSITION, coin, _plain(mine), _plain(other))
    return found


def _paper(run: ReconciliationRun) -> list[ReconciliationDifference]:
    found: list[ReconciliationDifference] = []
    accounts = TradingAccount.objects.filter(
        venue=Venue.PAPER, status=TradingAccount.Status.OPEN
    ).order_by("pk")
    for account in accounts:
        run.accounts_checked += 1
        name = venue_account_of(account)
        try:
            theirs = venue_for(account).balance(name)
        except Exception:  # the paper venue raises its model's DoesNotExist for an unknown book
            theirs = None
        found += _compare(
            run, account, name, Venue.PAPER, (account.balance, _ours(account)), theirs
        )
    return found


def _hyperliquid(run: ReconciliationRun) -> list[ReconciliationDifference]:
    from apps.trading.models_hyperliquid import HyperliquidMaster, SubAccount
    from apps.trading.venues.base import VenueError
    from apps.trading.venues.hyperliquid.reconciliation import positions_and_balances

    found: list[ReconciliationDifference] = []
    for master in HyperliquidMaster.objects.order_by("pk"):
        try:
            books = positions_and_balances(master)
        except VenueError as exc:
            run.errors.append({"master": master.address, "error": str(exc)})
            continue
        assigned = {
            s.address.lower(): s
            for s in SubAccount.objects.filter(
                master=master, trading_account__isnull=False
            ).select_related("trading_account")
        }
        for address in sorted(set(books) | set(assigned)):
            sub = assigned.get(address)
            account = sub.trading_account if sub else None
            if account is not None:
                run.accounts_checked += 1
            ours = (account.balance, _ours(account)) if account is not None else None
            found += _compare(run, account, address, Venue.HYPERLIQUID, ours, books.get(address))
    return found


def reconciliation_run() -> ReconciliationRun:
    """Reconcile every venue now; record the run, its differences and their alerts."""
    run = ReconciliationRun.objects.create()
    differences = _paper(run) + _hyperliquid(run)
    with transaction.atomic():
        ReconciliationDifference.objects.bulk_create(differences)
        run.differences_found = len(differences)
        run.finished_at = clock.now()
        run.save(update_fields=["accounts_checked", "differences_found", "errors", "finished_at"])
        for d in differences:
            label = d.get_kind_display().lower()
            what = f" {d.coin}" if d.coin else ""
            alert_raise(
                kind=Alert.Kind.RECONCILIATION,
                key=f"reconciliation:{d.venue}:{d.venue_account}:{d.kind}:{d.coin}",
                coin=d.coin,
                simulated=d.venue == Venue.PAPER,
                message=f"Reconciliation: {d.venue} {d.venue_account}{what} {label} differs — "
                f"ours {d.ours or 'none'}, the venue's {d.theirs or 'none'}. {d.note}".strip(),
                details={"run": run.pk, "difference": d.pk},
            )
        for error in run.errors:
            alert_raise(
                kind=Alert.Kind.RECONCILIATION,
                key=f"reconciliation:error:{error['master']}",
                message=f"Reconciliation could not read master {error['master']}: {error['error']}",
                details={"run": run.pk},
            )
    return run


@shared_task(name="apps.risk.reconciliation.reconciliation_run")
def reconciliation_run_task() -> int:
    return reconciliation_run().differences_found
