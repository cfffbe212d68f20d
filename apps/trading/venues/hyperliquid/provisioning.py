"""Giving a funded trading account its Hyperliquid sub-account, step by step.

    requested --(a free sub-account, or createSubAccount + read back)--> created
    created   --(subAccountTransfer of the allocation, under our key)--> funded
    funded    --(clearinghouseState shows the allocation)--------------> ready
    any step  --(the venue refuses)--> failed, with the venue's words; `provisioning_retry`
                 puts it back at the step that failed.

Each step is idempotent, because a worker can die anywhere: creating first reads the
master's sub-accounts back and adopts one already named for this account (a create whose
answer was lost is not repeated); funding is a keyed transfer (see transfers.py). A venue
timeout or a retryable error leaves the state where it is, for the task to try again. One
worker at a time advances a provisioning (a PostgreSQL advisory lock).

Sub-accounts are a pool: a free one (released by a closed account) is taken before a new one
is created, on any active master with room (`max_sub_accounts`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from decimal import Decimal

from django.db import connection, transaction

from apps.core import clock
from apps.core.services import audit_record
from apps.trading.models import TradingAccount
from apps.trading.models_hyperliquid import HyperliquidMaster, Provisioning, SubAccount
from apps.trading.venues.base import VenueError
from apps.trading.venues.hyperliquid import config, selectors, wire
from apps.trading.venues.hyperliquid.client import Client
from apps.trading.venues.hyperliquid.transfers import (
    MICRO,
    transfer_execute,
    transfer_retry,
    usd_down,
)

log = logging.getLogger("apps.trading.venues.hyperliquid")
Status = Provisioning.Status


def sub_account_name(account: TradingAccount) -> str:
    """Deterministic, so a create whose answer was lost is found again by name."""
    return f"{config.setting('HYPERLIQUID_SUB_ACCOUNT_PREFIX', 'pf-')}{account.pk}"


def allocation_key(account: TradingAccount) -> str:
    return f"allocation:{account.pk}"


def _enqueue(provisioning: Provisioning) -> None:
    from apps.trading.tasks_hyperliquid import provisioning_advance_task

    transaction.on_commit(lambda: provisioning_advance_task.delay(provisioning.pk))


@transaction.atomic
def provisioning_request(*, account: TradingAccount, allocation: Decimal) -> Provisioning:
    """Ask for the account's sub-account (idempotent: one provisioning per account)."""
    if allocation <= 0:
        raise VenueError("A Hyperliquid sub-account needs a positive allocation.")
    provisioning, created = Provisioning.objects.get_or_create(
        trading_account=account, defaults={"allocation": allocation}
    )
    if created:
        audit_record(
            action="hyperliquid.provisioning.requested",
            subject=account,
            after={"allocation": allocation},
        )
        _enqueue(provisioning)
    return provisioning


@transaction.atomic
def provisioning_retry(*, provisioning: Provisioning, actor=None) -> Provisioning:
    """Put a failed provisioning back at the step that failed; safe however often it runs."""
    locked = Provisioning.objects.select_for_update().get(pk=provisioning.pk)
    if locked.status != Status.FAILED:
        return locked
    step = locked.failed_step or Status.REQUESTED
    before = {"status": locked.status, "reason": locked.reason}
    locked.status, locked.failed_step, locked.reason = step, "", ""
    locked.updated_at = clock.now()
    locked.save(update_fields=["status", "failed_step", "reason", "updated_at"])
    if step == Status.CREATED:
        transfer_retry(key=allocation_key(locked.trading_account))
    audit_record(
        action="hyperliquid.provisioning.retry",
        subject=locked.trading_account,
        actor=actor,
        before=before,
        after={"status": step},
    )
    _enqueue(locked)
    return locked


@transaction.atomic
def _move(provisioning: Provisioning, status: str, **fields) -> Provisioning:
    locked = Provisioning.objects.select_for_update().get(pk=provisioning.pk)
    before = locked.status
    for name, value in {"status": status, **fields}.items():
        setattr(locked, name, value)
    locked.updated_at = clock.now()
    locked.save()
    audit_record(
        action=f"hyperliquid.provisioning.{status}",
        subject=locked.trading_account,
        before={"status": before},
        after={
            "status": status,
            "sub_account": locked.sub_account.address if locked.sub_account_id else None,
            "reason": locked.reason,
        },
    )
    return locked


def _fail(provisioning: Provisioning, reason: str) -> Provisioning:
    log.warning(
        "hyperliquid provisioning of account %s failed at %s: %s",
        provisioning.trading_account_id,
        provisioning.status,
        reason,
    )
    return _move(provisioning, Status.FAILED, failed_step=provisioning.status, reason=reason)


@contextlib.contextmanager
def _advancing(provisioning_id: int):
    """One worker per provisioning, held across the steps' network calls (session lock)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [f"hl-prov:{provisioning_id}"]
        )
        got = cursor.fetchone()[0]
    try:
        yield got
    finally:
        if got:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_advisory_unlock(hashtextextended(%s, 0))",
                    [f"hl-prov:{provisioning_id}"],
                )


def provisioning_advance(*, provisioning_id: int) -> Provisioning:
    """Run the steps until ready or failed. A timeout or a retryable error propagates, the
    state kept, for the task to retry."""
    with _advancing(provisioning_id) as got:
        provisioning = Provisioning.objects.get(pk=provisioning_id)
        if not got:
            return provisioning  # another worker is on it
        for _ in range(4):
            provisioning = Provisioning.objects.select_related(
                "trading_account", "sub_account__master__network", "master__network"
            ).get(pk=provisioning_id)
            Provisioning.objects.filter(pk=provisioning_id).update(
                attempts=provisioning.attempts + 1
            )
            step = _STEPS.get(provisioning.status)
            if step is None:
                return provisioning
            try:
                step(provisioning)
            except (wire.RefusedByVenue, VenueError) as exc:
                retryable = isinstance(exc, VenueError) and exc.retryable
                if retryable:
                    raise
                return _fail(provisioning, exc.reason)
        return Provisioning.objects.get(pk=provisioning_id)


# --- the steps -------------------------------------------------------------------------------


@transaction.atomic
def _assign_free(provisioning: Provisioning) -> bool:
    sub = (
        SubAccount.objects.select_for_update(skip_locked=True)
        .filter(status=SubAccount.Status.FREE, master__active=True)
        .order_by("id")
        .first()
    )
    if sub is None:
        return False
    sub.status, sub.trading_account = SubAccount.Status.ASSIGNED, provisioning.trading_account
    sub.assigned_at = clock.now()
    sub.save(update_fields=["status", "trading_account", "assigned_at"])
    _move(provisioning, Status.CREATED, sub_account=sub, master=sub.master)
    return True


def _step_create(provisioning: Provisioning) -> None:
    if _assign_free(provisioning):
        return
    master = provisioning.master
    if master is None:
        master = selectors.masters_with_room().first()
        if master is None:
            _fail(
                provisioning,
                "No Hyperliquid master account has room for another sub-account: raise a "
                "master's max_sub_accounts or register another master.",
            )
            return
        # Kept before the create, so a retry asks the same master what it already holds.
        Provisioning.objects.filter(pk=provisioning.pk).update(master=master)
    client = Client(master)
    name = sub_account_name(provisioning.trading_account)
    address = _named(client.sub_accounts(), name)
    if address is None:
        answer = client.act("createSubAccount", lambda exchange: exchange.create_sub_account(name))
        created = wire.exchange_data(answer, "createSubAccount")
        if not isinstance(created, str):
            raise VenueError(f"Hyperliquid's createSubAccount answer is malformed: {answer!r}")
        address = _named(client.sub_accounts(), name)
        if address is None or address != created.lower():
            raise VenueError(
                f"Sub-account {created} was created but Hyperliquid does not list it yet.",
                retryable=True,
            )
    _record_created(provisioning, master, address, name)


def _named(listed: list[dict], name: str) -> str | None:
    for entry in listed:
        if entry.get("name") == name:
            return str(entry["subAccountUser"]).lower()
    return None


@transaction.atomic
def _record_created(
    provisioning: Provisioning, master: HyperliquidMaster, address: str, name: str
) -> None:
    sub, _ = SubAccount.objects.get_or_create(
        address=address, defaults={"master": master, "name": name}
    )
    sub.status, sub.trading_account = SubAccount.Status.ASSIGNED, provisioning.trading_account
    sub.assigned_at = clock.now()
    sub.save(update_fields=["status", "trading_account", "assigned_at"])
    _move(provisioning, Status.CREATED, sub_account=sub, master=master)


def _step_fund(provisioning: Provisioning) -> None:
    account = provisioning.trading_account
    transfer_execute(
        sub=provisioning.sub_account,
        amount=provisioning.allocation,
        key=allocation_key(account),
        book_as="",  # the starting capital, already booked by account_open
        account=account,
    )
    _move(provisioning, Status.FUNDED)


def _step_ready(provisioning: Provisioning) -> None:
    sub = provisioning.sub_account
    state = Client(sub.master).clearinghouse(sub.address)
    try:
        held = wire.balance(state).balance
    except wire.WireError as exc:
        raise VenueError(
            f"Hyperliquid's clearinghouseState is malformed: {exc}", retryable=True
        ) from None
    if held < provisioning.allocation - MICRO:
        _fail(
            provisioning,
            f"Sub-account {sub.address} holds {held} after funding, not {provisioning.allocation}.",
        )
        return
    with transaction.atomic():
        TradingAccount.objects.filter(pk=provisioning.trading_account_id).update(
            venue_ref=sub.address
        )
        _move(provisioning, Status.READY)


_STEPS = {
    Status.REQUESTED: _step_create,
    Status.CREATED: _step_fund,
    Status.FUNDED: _step_ready,
}


# --- giving a sub-account back to the pool ---------------------------------------------------


def sub_account_release(*, sub: SubAccount) -> SubAccount:
    """Return a closed account's sub-account to the pool: refuses while it holds positions,
    withdraws what it holds to the master (not booked: the account's books are final), and
    marks the venue time from which its history belongs to the next account."""
    if sub.status != SubAccount.Status.ASSIGNED:
        return sub
    client = Client(sub.master)
    state = client.clearinghouse(sub.address)
    try:
        held = wire.balance(state)
    except wire.WireError as exc:
        raise VenueError(
            f"Hyperliquid's clearinghouseState is malformed: {exc}", retryable=True
        ) from None
    if held.positions:
        coins = ", ".join(p.coin for p in held.positions)
        raise VenueError(f"Sub-account {sub.address} still holds positions ({coins}).")
    withdrawable = usd_down(wire.dec(state.get("withdrawable", "0"), "withdrawable"))
    account = sub.trading_account
    if withdrawable > 0:
        transfer_execute(
            sub=sub, amount=-withdrawable, key=f"release:{sub.pk}:{account.pk}", account=account
        )
    venue_now = wire.state_time(state) or int(time.time() * 1000)
    with transaction.atomic():
        locked = SubAccount.objects.select_for_update().get(pk=sub.pk)
        locked.status, locked.trading_account, locked.assigned_at = "free", None, None
        locked.history_from_ms = venue_now + 1
        locked.save(update_fields=["status", "trading_account", "assigned_at", "history_from_ms"])
        # The closed account no longer names the sub-account, so nothing reads the next
        # account's fills into its books.
        TradingAccount.objects.filter(pk=account.pk).update(venue_ref="")
        audit_record(
            action="hyperliquid.sub_account.released",
            subject=account,
            after={"sub_account": sub.address, "withdrawn": withdrawable},
        )
    return locked
