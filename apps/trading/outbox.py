"""Sending orders to venues: the outbox, claimed by workers, and reading back what happened.

A message is claimed with SELECT … FOR UPDATE SKIP LOCKED and marked UNKNOWN with a lease
*before* anything is sent, in its own transaction. If the worker dies after sending, the
message stays UNKNOWN; when the lease runs out another worker asks the venue for the order's
status (by our client id) before anything is resent, so no order is ever placed twice.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Q

from apps.core import clock
from apps.trading.models import Order, OutboxMessage, TradingAccount
from apps.trading.services import fill_book, funding_book, order_apply_status, venue_account_of
from apps.trading.venues.base import OrderRequest, OrderStatus, VenueError, VenueTimeout
from apps.trading.venues.registry import venue_for

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=30)
MAX_ATTEMPTS = 8


def _claim() -> OutboxMessage | None:
    now = clock.now()
    with transaction.atomic():
        message = (
            # of=self: lock the message only; the joined account row may be busy (a breach, a
            # fill) and must not make this message look taken.
            OutboxMessage.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("order__account")
            .filter(
                Q(status=OutboxMessage.Status.PENDING)
                | Q(status=OutboxMessage.Status.UNKNOWN, lease_until__lt=now)
            )
            .order_by("id")
            .first()
        )
        if message is None:
            return None
        message.was_unknown = message.status == OutboxMessage.Status.UNKNOWN
        message.status = OutboxMessage.Status.UNKNOWN
        message.attempts += 1
        message.lease_until = now + LEASE
        message.sent_at = now
        message.save(update_fields=["status", "attempts", "lease_until", "sent_at"])
        return message


def _finish(message: OutboxMessage, status: str, error: str = "") -> None:
    OutboxMessage.objects.filter(pk=message.pk).update(status=status, last_error=error[:2000])


def _request(order: Order) -> OrderRequest:
    return OrderRequest(
        client_id=order.venue_client_id,
        coin=order.coin,
        side=order.side,
        kind=order.kind,
        size=order.size,
        limit_price=order.limit_price,
        trigger_price=order.trigger_price,
        tif=order.tif,
        reduce_only=order.reduce_only,
    )


def _send(message: OutboxMessage) -> OrderStatus:
    order = message.order
    venue = venue_for(order.account)
    where = venue_account_of(order.account)
    if message.action == OutboxMessage.Action.PLACE:
        if message.was_unknown:
            # We may have sent it before dying: ask first, resend only if the venue never saw it.
            known = venue.order_status(where, order.venue_client_id)
            if known.status != "unknown":
                return known
        return venue.place(where, _request(order))
    if message.action == OutboxMessage.Action.CANCEL:
        return venue.cancel(where, order.venue_client_id)
    values = {k: Decimal(v) for k, v in message.payload.items()}
    return venue.modify(where, order.venue_client_id, **values)


def outbox_dispatch(*, limit: int = 100) -> int:
    """Send up to `limit` waiting messages; return how many were settled."""
    settled = 0
    for _ in range(limit):
        message = _claim()
        if message is None:
            break
        order = message.order
        try:
            status = _send(message)
        except VenueTimeout as exc:
            log.warning("venue timeout for %s: %s (will ask before resending)", order.pk, exc)
            continue  # stays UNKNOWN until its lease runs out
        except VenueError as exc:
            if exc.retryable and message.attempts < MAX_ATTEMPTS:
                OutboxMessage.objects.filter(pk=message.pk).update(
                    status=OutboxMessage.Status.PENDING, last_error=exc.reason
                )
                continue
            _finish(message, OutboxMessage.Status.FAILED, exc.reason)
            if message.action == OutboxMessage.Action.PLACE:
                order_apply_status(
                    order=order,
                    status=OrderStatus(order.venue_client_id, "rejected", reason=exc.reason),
                )
            else:
                log.warning(
                    "%s of %s refused by the venue: %s", message.action, order.pk, exc.reason
                )
            settled += 1
            continue
        order_apply_status(
            order=order,
            status=status,
            modify=message.payload if message.action == OutboxMessage.Action.MODIFY else None,
        )
        _finish(message, OutboxMessage.Status.DONE)
        account_sync(account=order.account)
        settled += 1
    return settled


def account_sync(*, account: TradingAccount) -> int:
    """Book every fill and funding payment the venue reports since we last read it."""
    venue = venue_for(account)
    where = venue_account_of(account)
    booked = 0
    with transaction.atomic():
        locked = TradingAccount.objects.select_for_update().get(pk=account.pk)
        cursor = dict(locked.venue_cursor)
        for fill in venue.fills_since(where, int(cursor.get("fills", 0))):
            fill_book(account=locked, fill=fill)
            cursor["fills"] = max(int(cursor.get("fills", 0)), fill.cursor)
            booked += 1
        for payment in venue.funding_since(where, int(cursor.get("funding", 0))):
            funding_book(account=locked, payment=payment)
            cursor["funding"] = max(int(cursor.get("funding", 0)), payment.cursor)
            booked += 1
        if cursor != locked.venue_cursor:
            locked.venue_cursor = cursor
            locked.save(update_fields=["venue_cursor"])
    return booked
