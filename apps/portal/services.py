"""The trader's actions from the trading page: the order ticket, cancel, close a position, and
the live snapshot pushed after each of them (and after every booked fill)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from apps.accounts.models import User
from apps.portal.selectors import account_snapshot, evaluated_of
from apps.trading import market_view
from apps.trading.models import Order, Position, TradingAccount, TradingState
from apps.trading.registry import OrderIntent
from apps.trading.services import TradingError, order_cancel, order_submit

log = logging.getLogger(__name__)

KINDS = ("market", "limit", "stop_market", "stop_limit")


def account_group(account_id: int) -> str:
    return f"account.{account_id}"


# --- live pushes -----------------------------------------------------------------------------


def snapshot_send(account_id: int) -> None:
    """Build the account's snapshot from the database and push it to its open pages now."""
    try:
        snapshot = account_snapshot(account_id)
        async_to_sync(get_channel_layer().group_send)(account_group(account_id), snapshot)
    except Exception:
        # A page that misses one push catches up on the next: never fail the caller.
        log.exception("could not push the snapshot of account %s", account_id)


def snapshot_push(account_id: int) -> None:
    """Push the account's snapshot once the current transaction commits."""
    transaction.on_commit(lambda: snapshot_send(account_id))


def on_account_activity(sender, *, account_id: int, **kwargs) -> None:
    """A fill, funding or adjustment was booked (trading's announcement, after commit)."""
    snapshot_send(account_id)


# --- the order ticket ------------------------------------------------------------------------


class TicketRefused(Exception):
    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message, self.field = message, field


@dataclass(frozen=True)
class Ticket:
    coin: str
    side: str
    kind: str
    size: Decimal
    unit: str  # coin | usd (the USD amount is margin: notional = amount x leverage)
    leverage: int
    limit_price: Decimal | None = None
    trigger_price: Decimal | None = None
    take_profit: Decimal | None = None
    stop_loss: Decimal | None = None
    reduce_only: bool = False
    tif: str = "gtc"


@dataclass(frozen=True)
class TicketResult:
    order: Order
    size: Decimal
    attached: list[Order]
    attached_refusals: list[str]


def _state_check(account: TradingAccount, reduce_only: bool) -> None:
    if account.status == TradingAccount.Status.CLOSED:
        raise TicketRefused("This account is closed: it takes no more orders.")
    if account.state in (TradingState.HALTED, TradingState.SUSPENDED):
        why = account.state_reason or "no reason given"
        raise TicketRefused(f"Trading is {account.get_state_display().lower()}: {why}")
    if account.state == TradingState.REDUCING and not reduce_only:
        raise TicketRefused(
            f"This account may only reduce positions: {account.state_reason or 'risk limit'}. "
            "Tick reduce-only."
        )


def _max_leverage(account: TradingAccount, coin: str) -> int:
    instrument = market_view.instrument(coin)
    limit = instrument.max_leverage if instrument else 1
    evaluated = evaluated_of(account)
    if evaluated is not None and evaluated.ruleset.max_leverage:
        limit = min(limit, int(evaluated.ruleset.max_leverage))
    return max(limit, 1)


def ticket_size(account: TradingAccount, ticket: Ticket) -> tuple[Decimal, Decimal]:
    """(size in coin, the price it was valued at) for a ticket."""
    instrument = market_view.instrument(ticket.coin)
    if instrument is None:
        raise TicketRefused(f"{ticket.coin} is not traded here.", field="coin")
    reference = ticket.limit_price or ticket.trigger_price or market_view.mark(ticket.coin)
    if reference is None or reference <= 0:
        raise TicketRefused(
            f"No price for {ticket.coin} yet: wait for the market feed.", field="coin"
        )
    if ticket.size <= 0:
        raise TicketRefused("Size must be a positive number.", field="size")
    limit = _max_leverage(account, ticket.coin)
    if not 1 <= ticket.leverage <= limit:
        raise TicketRefused(
            f"Leverage must be between 1x and {limit}x for {ticket.coin} on this account.",
            field="leverage",
        )
    if ticket.unit == "coin":
        return ticket.size, reference
    lot = Decimal(1).scaleb(-instrument.sz_decimals)
    size = (ticket.size * ticket.leverage / reference).quantize(lot, rounding=ROUND_DOWN)
    if size <= 0:
        raise TicketRefused(
            f"{ticket.size} USD at {ticket.leverage}x buys less than one lot of {ticket.coin} "
            f"({lot}).",
            field="size",
        )
    return size, reference


def _brackets(ticket: Ticket, reference: Decimal) -> None:
    long = ticket.side == "buy"
    if ticket.take_profit is not None and (ticket.take_profit > reference) != long:
        where = "above" if long else "below"
        raise TicketRefused(
            f"The take-profit of a {'buy' if long else 'sell'} must be {where} {reference}.",
            field="take_profit",
        )
    if ticket.stop_loss is not None and (ticket.stop_loss < reference) != long:
        where = "below" if long else "above"
        raise TicketRefused(
            f"The stop-loss of a {'buy' if long else 'sell'} must be {where} {reference}.",
            field="stop_loss",
        )


def ticket_submit(
    *, account: TradingAccount, ticket: Ticket, idempotency_key: str, actor: User
) -> TicketResult:
    """The ticket as orders: the order itself through `order_submit` (so the pre-trade gate
    answers), then its take-profit and stop-loss as reduce-only trigger orders on the other
    side. A repeat of the same key returns the same orders."""
    if ticket.kind not in KINDS:
        raise TicketRefused("Choose market, limit, stop market or stop limit.", field="kind")
    _state_check(account, ticket.reduce_only)
    size, reference = ticket_size(account, ticket)
    _brackets(ticket, reference)
    intent = OrderIntent(
        coin=ticket.coin,
        side=ticket.side,
        kind=ticket.kind,
        size=size,
        limit_price=ticket.limit_price if ticket.kind in ("limit", "stop_limit") else None,
        trigger_price=ticket.trigger_price if ticket.kind.startswith("stop") else None,
        tif=ticket.tif if ticket.kind in ("limit", "stop_limit") else "gtc",
        reduce_only=ticket.reduce_only,
    )
    try:
        order = order_submit(
            account=account,
            intent=intent,
            origin="trader_web",
            idempotency_key=f"web:{idempotency_key}",
            actor=actor,
        )
    except TradingError as exc:
        raise TicketRefused(exc.message, field=exc.field) from None
    attached, refusals = [], []
    other = "sell" if ticket.side == "buy" else "buy"
    for kind, price, label in (
        ("take_profit", ticket.take_profit, "take-profit"),
        ("stop_loss", ticket.stop_loss, "stop-loss"),
    ):
        if price is None:
            continue
        try:
            attached.append(
                order_submit(
                    account=account,
                    intent=OrderIntent(
                        coin=ticket.coin,
                        side=other,
                        kind=kind,
                        size=size,
                        trigger_price=price,
                        reduce_only=True,
                    ),
                    origin="trader_web",
                    idempotency_key=f"web:{idempotency_key}:{kind}",
                    actor=actor,
                )
            )
        except TradingError as exc:
            refusals.append(f"The {label} was refused: {exc.message}")
    snapshot_push(account.pk)
    return TicketResult(order=order, size=size, attached=attached, attached_refusals=refusals)


def trader_order_cancel(*, account: TradingAccount, order_id: str, actor: User) -> Order:
    order = Order.objects.filter(account=account, pk=order_id).first()
    if order is None:
        raise TicketRefused("There is no such order on this account.")
    if order.origin not in ("trader_web", "trader_api"):
        raise TicketRefused("This order was placed by the firm; only the firm can cancel it.")
    try:
        order = order_cancel(order=order, origin="trader_web", actor=actor)
    except TradingError as exc:
        raise TicketRefused(exc.message) from None
    snapshot_push(account.pk)
    return order


def position_close(
    *, account: TradingAccount, coin: str, idempotency_key: str, actor: User
) -> Order:
    """Close a whole position with a reduce-only market order."""
    if account.status == TradingAccount.Status.CLOSED or account.state in (
        TradingState.HALTED,
        TradingState.SUSPENDED,
    ):
        _state_check(account, reduce_only=True)
    position = Position.objects.filter(account=account, coin=coin).exclude(size=0).first()
    if position is None:
        raise TicketRefused(f"There is no open {coin} position.")
    try:
        order = order_submit(
            account=account,
            intent=OrderIntent(
                coin=coin,
                side="sell" if position.size > 0 else "buy",
                kind="market",
                size=abs(position.size),
                reduce_only=True,
            ),
            origin="trader_web",
            idempotency_key=f"web:{idempotency_key}",
            actor=actor,
        )
    except TradingError as exc:
        raise TicketRefused(exc.message) from None
    snapshot_push(account.pk)
    return order
