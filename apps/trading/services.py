"""Where money moves: accounts, the ledger, order entry, fills and funding.

Every write is one transaction, audited, and anything that leaves the process (a venue call,
a Celery task, an event on the stream) leaves only after commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from apps.accounts.models import User
from apps.core import clock, rows
from apps.core.after_response import after_response
from apps.core.money import quantize
from apps.core.services import audit_chain_reads, audit_event_next, audit_record
from apps.trading import events, market_view
from apps.trading.intents import IntentError, intent_validate
from apps.trading.models import (
    Fill,
    LedgerEntry,
    Order,
    Origin,
    OutboxMessage,
    Position,
    TradingAccount,
    TradingState,
)
from apps.trading.positions import apply_fill
from apps.trading.registry import (
    OrderIntent,
    Refusal,
    SubmitContext,
    pre_submit_checks,
    pre_submit_reads,
)
from apps.trading.signals import announce_activity
from apps.trading.venues.base import FundingPayment, OrderStatus, VenueFill

LEDGER_PLACES = 6


class TradingError(Exception):
    """A request a person or client can correct; `code` and `field` say what to correct."""

    def __init__(self, message: str, *, code: str = "invalid", field: str | None = None):
        super().__init__(message)
        self.message, self.code, self.field = message, code, field


class OrderRefused(TradingError):
    pass


class IdempotencyConflict(TradingError):
    def __init__(self):
        super().__init__(
            "This Idempotency-Key was already used for a different request.",
            code="idempotency_key_reused",
        )


# --- accounts and the ledger -----------------------------------------------------------------


@transaction.atomic
def account_open(
    *,
    owner: User,
    starting_balance: Decimal,
    key: str,
    label: str = "",
    venue: str = "paper",
    currency: str = "USD",
    actor: User | None = None,
) -> TradingAccount:
    """Open a trading account with its starting capital as the first ledger entry.

    `key` makes it idempotent: opening again with the same key returns the same account.
    """
    if starting_balance <= 0:
        raise TradingError("The starting balance must be positive.", field="starting_balance")
    existing = LedgerEntry.objects.filter(key=f"{key}:capital").select_related("account").first()
    if existing is not None:
        return existing.account
    account = TradingAccount.objects.create(
        owner=owner, label=label, venue=venue, currency=currency
    )
    if venue == "paper":
        # The paper venue names its accounts after ours; a real venue's sub-account is
        # assigned by its provisioning instead.
        account.venue_ref = f"paper-{account.pk}"
        account.save(update_fields=["venue_ref"])
    ledger_post(
        account=account,
        kind=LedgerEntry.Kind.STARTING_CAPITAL,
        amount=starting_balance,
        key=f"{key}:capital",
        memo="Starting capital",
        actor=actor,
    )
    account.refresh_from_db(fields=["balance"])  # the database added the capital
    audit_record(
        action="account.open",
        subject=account,
        actor=actor,
        after={"owner": owner.pk, "venue": venue, "starting_balance": starting_balance},
    )
    from apps.trading.venues.registry import venue_for

    transaction.on_commit(
        lambda: venue_for(account).open_account(
            venue_account=venue_account_of(account), balance=starting_balance
        )
    )
    return account


def venue_account_of(account: TradingAccount) -> str:
    return account.venue_ref or f"{account.venue}-{account.pk}"


@transaction.atomic(savepoint=False)
def ledger_post(
    *,
    account: TradingAccount,
    kind: str,
    amount: Decimal,
    key: str,
    memo: str = "",
    at=None,
    order: Order | None = None,
    fill: Fill | None = None,
    actor: User | None = None,
    coin: str = "",
) -> LedgerEntry:
    """Add one balance change. A repeat of the same key is a no-op returning the first entry.

    The account row is locked first, so two posts on one account are applied one after the
    other; the database adds the amount to the balance as the entry is inserted.
    """
    amount = quantize(amount, LEDGER_PLACES)
    TradingAccount.objects.select_for_update().only("id").get(pk=account.pk)
    existing = LedgerEntry.objects.filter(key=key).first()
    if existing is not None:
        if existing.account_id != account.pk or existing.amount != amount:
            raise TradingError(f"Ledger key {key!r} was already used for another entry.")
        return existing
    entry = LedgerEntry.objects.create(
        account=account,
        kind=kind,
        amount=amount,
        key=key,
        memo=memo,
        at=at or clock.now(),
        order=order,
        fill=fill,
        actor=actor,
        coin=coin,
    )
    entry.refresh_from_db(fields=["balance_after"])
    if fill is None and kind != LedgerEntry.Kind.STARTING_CAPITAL:
        announce_activity(account.pk)  # a fill announces itself once, below
    transaction.on_commit(
        lambda: events.publish(
            "ledger",
            account=account.pk,
            entry_kind=kind,
            amount=f"{amount:f}",
            key=key,
            at=entry.at.isoformat(),
        )
    )
    return entry


@transaction.atomic
def account_set_state(
    *,
    account: TradingAccount,
    state: str,
    reason: str,
    actor: User | None = None,
    override: bool = False,
) -> TradingAccount:
    """Change an account's trading state, audited; the gate reads it from the next order on.
    Only an approved four-eyes override (risk.overrides) passes `override=True` to lift HALTED."""
    if state not in TradingState.values:
        raise TradingError(f"Unknown trading state {state!r}.", field="state")
    if not reason.strip():
        raise TradingError("A change of trading state needs a reason.", field="reason")
    locked = TradingAccount.objects.select_for_update().get(pk=account.pk)
    before = locked.state
    if before == TradingState.HALTED and state != TradingState.HALTED and not override:
        raise TradingError(
            "A halted account is reinstated only through an approved override (four eyes).",
            code="halted_needs_override",
            field="state",
        )
    locked.state, locked.state_reason, locked.state_changed_at = state, reason, clock.now()
    locked.save(update_fields=["state", "state_reason", "state_changed_at"])
    audit_record(
        action="account.state",
        subject=locked,
        actor=actor,
        before={"state": before},
        after={"state": state, "reason": reason},
    )
    return locked


# --- order entry -----------------------------------------------------------------------------


def order_submit(
    *,
    account: TradingAccount,
    intent: OrderIntent,
    origin: str,
    idempotency_key: str,
    actor: User | None = None,
) -> Order:
    """The one way in for an order: validated, asked of every pre-submit check, then written
    with its outbox row in one transaction. A repeat of an idempotency key returns the first
    order (a different request under the same key is refused)."""
    if origin not in Origin.values:
        raise TradingError(f"Unknown order origin {origin!r}.", field="origin")
    if not idempotency_key or len(idempotency_key) > 200:
        raise TradingError("An idempotency key of 1 to 200 characters is required.")
    digest = intent.request_hash()
    order, refusal = _order_write(account, intent, origin, idempotency_key, digest, actor)
    if refusal is not None:
        raise refusal
    return order


def _order_write(
    account: TradingAccount,
    intent: OrderIntent,
    origin: str,
    idempotency_key: str,
    digest: str,
    actor: User | None,
) -> tuple[Order | None, TradingError | None]:
    """(the order, None), or (None, why it was refused) with nothing written.

    No savepoint: a refusal is returned, not raised inside the transaction, so a caller's
    transaction stays usable (the API stores the refusal under its Idempotency-Key). Two
    submissions of one key cannot both insert: each takes the account row first and looks for
    the key under it.
    """
    with transaction.atomic(savepoint=False):
        # The account row stays locked from the checks to the commit: a state change (a
        # breach's HALTED, a risk manager's SUSPENDED) either commits first, and the checks see
        # it, or waits for this order, which its enforcement then finds and cancels.
        # Rows by SQL built once (apps/core/rows.py): this is the REST API's hot path. One
        # round trip, in order: the account's lock; then, each statement with its own snapshot
        # taken under that lock, the key's order, the audit chain's lock and head, and what
        # every pre-submit check declared it reads.
        now = clock.now()
        ahead = SubmitContext(account=account, intent=intent, origin=origin, now=now)
        reads = {name: declared(ahead) for name, declared in pre_submit_reads().items()}
        (locked, order), chain, *checks_read = rows.run_groups(
            [
                [
                    rows.select_statement(TradingAccount, "id = %s", [account.pk], True),
                    rows.select_statement(
                        Order,
                        "account_id = %s AND idempotency_key = %s",
                        [account.pk, idempotency_key],
                    ),
                ],
                audit_chain_reads(account),
                *reads.values(),
            ]
        )
        locked, order = rows.first(TradingAccount, locked), rows.first(Order, order)
        read = dict(zip(reads, checks_read, strict=True))
        if locked is None:
            raise TradingAccount.DoesNotExist(f"No trading account {account.pk}.")
        account = locked
        if order is not None:
            if order.request_hash != digest:
                return None, IdempotencyConflict()
            return order, None  # a repeat answers with the first order, whatever the market does
        quotes = market_view.quotes()
        try:
            intent_validate(intent, market_view.instrument(intent.coin), quotes.get(intent.coin))
        except IntentError as exc:
            return None, OrderRefused(exc.message, code=exc.code, field=exc.field)
        context = SubmitContext(
            account=account, intent=intent, origin=origin, now=now, quotes=quotes, read=read
        )
        for check in pre_submit_checks():
            refusal: Refusal | None = check(context)
            if refusal is not None:
                return None, OrderRefused(refusal.message, code=refusal.code, field=refusal.field)
        return _order_insert(account, intent, origin, idempotency_key, digest, actor, chain), None


def _order_insert(
    account: TradingAccount,
    intent: OrderIntent,
    origin: str,
    idempotency_key: str,
    digest: str,
    actor: User | None,
    chain: list[list[tuple]],
) -> Order:
    order = Order(
        account=account,
        origin=origin,
        idempotency_key=idempotency_key,
        request_hash=digest,
        client_order_id=intent.client_order_id,
        coin=intent.coin,
        side=intent.side,
        kind=intent.kind,
        tif=intent.tif,
        size=intent.size,
        limit_price=intent.limit_price,
        trigger_price=intent.trigger_price,
        reduce_only=intent.reduce_only,
        actor=actor,
    )
    event = audit_event_next(
        action="order.submit",
        subject=account,
        actor=actor,
        after={"order": order.pk, "origin": origin, **intent.fingerprint()},
        chain=chain,
    )
    # The order, its outbox row and its audit event in one round trip; under the REST API's
    # Idempotency-Key (`rows.write_behind`), the one that stores the answer and commits.
    rows.insert_many(
        [order, OutboxMessage(order=order, action=OutboxMessage.Action.PLACE), event], later=True
    )
    _after_commit_dispatch(order, "order.new")
    return order


def _after_commit_dispatch(order: Order, kind: str) -> None:
    from apps.trading.tasks import outbox_wake

    def send():
        # The event and the wake in one Redis round trip.
        outbox_wake(
            also=lambda pipe: events.publish_on(
                pipe, kind, account=order.account_id, order=str(order.pk)
            )
        )

    # Robust: the order is committed whatever happens here; if Redis or the broker is down the
    # failure is logged and the 5 s outbox sweep sends the order. Under the REST API, sent once
    # the answer is on its way (apps/core/after_response.py): the answer does not wait for it.
    transaction.on_commit(lambda: after_response(send), robust=True)


@transaction.atomic
def order_cancel(*, order: Order, origin: str, actor: User | None = None) -> Order:
    order = Order.objects.select_for_update().get(pk=order.pk)
    if not order.is_live:
        raise TradingError(
            f"This order is {order.get_status_display().lower()}; only an open order can be "
            "cancelled.",
            code="order_not_open",
        )
    OutboxMessage.objects.create(order=order, action=OutboxMessage.Action.CANCEL)
    audit_record(
        action="order.cancel",
        subject=order.account,
        actor=actor,
        after={"order": order.pk, "origin": origin},
    )
    _after_commit_dispatch(order, "order.cancel_requested")
    return order


@transaction.atomic
def order_modify(
    *,
    order: Order,
    origin: str,
    size: Decimal | None = None,
    limit_price: Decimal | None = None,
    trigger_price: Decimal | None = None,
    actor: User | None = None,
) -> Order:
    order = Order.objects.select_for_update().get(pk=order.pk)
    if not order.is_live:
        raise TradingError(
            f"This order is {order.get_status_display().lower()}; only an open order can be "
            "modified.",
            code="order_not_open",
        )
    if size is None and limit_price is None and trigger_price is None:
        raise TradingError("Say what to change: size, limit price or trigger price.")
    intent = OrderIntent(
        coin=order.coin,
        side=order.side,
        kind=order.kind,
        size=size if size is not None else order.size,
        limit_price=limit_price if limit_price is not None else order.limit_price,
        trigger_price=trigger_price if trigger_price is not None else order.trigger_price,
        tif=order.tif,
        reduce_only=order.reduce_only,
    )
    try:
        intent_validate(intent, market_view.instrument(order.coin), market_view.quote(order.coin))
    except IntentError as exc:
        raise OrderRefused(exc.message, code=exc.code, field=exc.field) from None
    # A modify is a new order for the checks: a halted account cannot grow one, nor can a
    # trader move one past the limits. The order being replaced is cancelled by it.
    account = TradingAccount.objects.select_for_update().get(pk=order.account_id)
    context = SubmitContext(
        account=account, intent=intent, origin=origin, now=clock.now(), replaces=order
    )
    for check in pre_submit_checks():
        refusal = check(context)
        if refusal is not None:
            raise OrderRefused(refusal.message, code=refusal.code, field=refusal.field)
    payload = {
        k: f"{v:f}"
        for k, v in (("size", size), ("limit_price", limit_price), ("trigger_price", trigger_price))
        if v is not None
    }
    OutboxMessage.objects.create(order=order, action=OutboxMessage.Action.MODIFY, payload=payload)
    audit_record(
        action="order.modify",
        subject=order.account,
        actor=actor,
        after={"order": order.pk, "origin": origin, **payload},
    )
    _after_commit_dispatch(order, "order.modify_requested")
    return order


# --- what the venue tells us -----------------------------------------------------------------


@transaction.atomic
def order_apply_status(*, order: Order, status: OrderStatus, modify: dict | None = None) -> Order:
    """Record what the venue said about an order (never a fill: fills come with their own
    record, so our books never hold a fill the venue did not confirm)."""
    order = Order.objects.select_for_update().get(pk=order.pk)
    fields = ["status", "updated_at"]
    if status.status == "rejected":
        order.status, order.reject_reason = Order.Status.REJECTED, status.reason
        fields.append("reject_reason")
    elif status.status == "cancelled":
        if order.status != Order.Status.FILLED:
            order.status = Order.Status.CANCELLED
            order.reject_reason = status.reason
            fields.append("reject_reason")
    elif status.status == "open" and order.status == Order.Status.PENDING:
        order.status = Order.Status.OPEN
    if modify:
        for name, value in modify.items():
            setattr(order, name, Decimal(value))
            fields.append(name)
    order.updated_at = clock.now()
    order.save(update_fields=sorted(set(fields)))
    transaction.on_commit(
        lambda: events.publish(
            "order",
            account=order.account_id,
            order=str(order.pk),
            status=order.status,
            reason=order.reject_reason,
        )
    )
    return order


@dataclass(frozen=True)
class Booked:
    fills: int
    funding: int


@transaction.atomic
def fill_book(*, account: TradingAccount, fill: VenueFill) -> Fill:
    """Book one confirmed fill: the fill, the position, realised P&L and the fee in the
    ledger. Idempotent on the venue's fill id."""
    existing = Fill.objects.filter(account=account, venue_fill_id=fill.fill_id).first()
    if existing is not None:
        return existing
    order = None
    if fill.client_id:
        order = (
            Order.objects.select_for_update()
            .filter(account=account, id=fill.client_id.removeprefix("0x"))
            .first()
        )
    position, _ = Position.objects.select_for_update().get_or_create(
        account=account, coin=fill.coin
    )
    size, entry, realized = apply_fill(
        position.size, position.entry_price, fill.side, fill.size, fill.price
    )
    realized = quantize(realized, LEDGER_PLACES)
    booked = Fill.objects.create(
        account=account,
        order=order,
        venue_fill_id=fill.fill_id,
        coin=fill.coin,
        side=fill.side,
        size=fill.size,
        price=fill.price,
        fee=quantize(fill.fee, LEDGER_PLACES),
        liquidity=fill.liquidity,
        realized_pnl=realized,
        at=fill.at,
    )
    position.size, position.entry_price = size, entry
    position.realized_pnl += realized
    position.updated_at = fill.at
    position.save()
    key = f"fill:{account.pk}:{fill.fill_id}"
    if realized:
        ledger_post(
            account=account,
            kind=LedgerEntry.Kind.REALIZED_PNL,
            amount=realized,
            key=f"{key}:pnl",
            at=fill.at,
            order=order,
            fill=booked,
            memo=f"{fill.side} {fill.size} {fill.coin} @ {fill.price}",
        )
    if booked.fee:
        ledger_post(
            account=account,
            kind=LedgerEntry.Kind.FEE,
            amount=-booked.fee,
            key=f"{key}:fee",
            at=fill.at,
            order=order,
            fill=booked,
            memo=f"{fill.liquidity} fee",
        )
    if order is not None:
        filled = order.filled_size + fill.size
        prior = (order.average_price or Decimal(0)) * order.filled_size
        order.average_price = (prior + fill.price * fill.size) / filled
        order.filled_size = min(filled, order.size)
        if order.filled_size >= order.size:
            order.status = Order.Status.FILLED
        order.updated_at = clock.now()
        order.save(update_fields=["filled_size", "average_price", "status", "updated_at"])
    announce_activity(account.pk)
    transaction.on_commit(
        lambda: events.publish(
            "fill",
            account=account.pk,
            coin=fill.coin,
            side=fill.side,
            qty=f"{fill.size:f}",
            price=f"{fill.price:f}",
            fee=f"{booked.fee:f}",
            at=fill.at.isoformat(),
            fill=booked.pk,
        )
    )
    return booked


@transaction.atomic
def funding_book(*, account: TradingAccount, payment: FundingPayment) -> LedgerEntry | None:
    amount = quantize(payment.amount, LEDGER_PLACES)
    if not amount:
        return None
    return ledger_post(
        account=account,
        kind=LedgerEntry.Kind.FUNDING,
        amount=amount,
        key=f"funding:{account.pk}:{payment.funding_id}",
        at=payment.at,
        memo=f"{payment.coin} funding at {payment.rate}",
        coin=payment.coin,
    )
