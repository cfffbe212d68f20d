"""USDC between a master and its sub-accounts (`subAccountTransfer`), exactly once per key.

Hyperliquid's transfer carries no id of ours, so the key lives in our table: a transfer is
recorded (pending), marked sent *before* the request leaves, and marked done or failed when
the answer comes. A retry of a transfer left "sent" (the process died, or the answer was
lost) first looks for it in the sub-account's ledger at the venue (userNonFundingLedgerUpdates:
a subAccountTransfer of that amount, in that direction, since it was sent, not already
claimed by another of our transfers) and sends it again only if it is not there.

Our own ledger: a transfer that changes what the trader's account holds (a payout, a resize)
is also a ledger entry, posted once with the transfer when it is confirmed. The allocation
deposit that funds a new sub-account is NOT booked: it is the account's starting capital,
already booked by `account_open`. Nor is the withdrawal that empties a released sub-account:
the account is closed and its books are final. Which kind a protocol `transfer()` books is
said by its key's first word: "payout:…" books a payout, "resize:…" a resize, any other word
(allocation, release, …) nothing.
"""

from __future__ import annotations

import logging
import time
from decimal import ROUND_DOWN, Decimal

from django.db import transaction

from apps.core import clock
from apps.core.services import audit_record
from apps.trading.models import TradingAccount
from apps.trading.models_hyperliquid import HyperliquidTransfer, SubAccount
from apps.trading.services import ledger_post
from apps.trading.venues.base import VenueError, VenueTimeout
from apps.trading.venues.hyperliquid import wire
from apps.trading.venues.hyperliquid.client import Client

log = logging.getLogger("apps.trading.venues.hyperliquid")

MICRO = Decimal("0.000001")
# The venue protocol moves money; our ledger entry is the caller's (payouts and scaling book
# `payout` / `resize` themselves, for every venue alike), so a transfer here books nothing.
# Booking by key prefix is kept as a mechanism for transfers no caller books.
BOOKED_KINDS: dict[str, str] = {}
# How far before our send time the venue's ledger is searched (clocks differ a little).
SEARCH_MARGIN_MS = 120_000


def book_as_for(key: str) -> str:
    return BOOKED_KINDS.get(key.split(":", 1)[0], "")


def to_micro_usd(amount: Decimal) -> int:
    """subAccountTransfer takes integer micro-USD; refuse what would be rounded away."""
    micros = amount / MICRO
    if micros != micros.to_integral_value():
        raise VenueError(f"A transfer of {amount} has more than 6 decimals (USDC's precision).")
    return int(abs(micros))


def usd_down(amount: Decimal) -> Decimal:
    return amount.quantize(MICRO, rounding=ROUND_DOWN)


def _record(
    *, key: str, sub: SubAccount, amount: Decimal, book_as: str, account: TradingAccount | None
) -> HyperliquidTransfer:
    row, created = HyperliquidTransfer.objects.get_or_create(
        key=key,
        defaults={
            "sub_account": sub,
            "amount": amount,
            "book_as": book_as,
            "trading_account": account,
        },
    )
    if not created and (row.sub_account_id != sub.pk or row.amount != amount):
        raise VenueError(f"Transfer key {key!r} was already used for another transfer.")
    return row


def _set(row: HyperliquidTransfer, **fields) -> None:
    fields["updated_at"] = clock.now()
    # Durable: the state must be committed before the request leaves, or a crash would
    # forget that it may have been sent.
    with transaction.atomic(durable=True):
        HyperliquidTransfer.objects.filter(pk=row.pk).update(**fields)
    for name, value in fields.items():
        setattr(row, name, value)


@transaction.atomic
def _complete(row: HyperliquidTransfer, venue_hash: str) -> None:
    row = HyperliquidTransfer.objects.select_for_update().get(pk=row.pk)
    if row.status == HyperliquidTransfer.Status.DONE:
        return
    row.status, row.venue_hash, row.updated_at = "done", venue_hash, clock.now()
    row.save(update_fields=["status", "venue_hash", "updated_at"])
    subject = row.trading_account or row.sub_account
    if row.book_as and row.trading_account is not None:
        ledger_post(
            account=row.trading_account,
            kind=row.book_as,
            amount=row.amount,
            key=f"hyperliquid-transfer:{row.key}",
            memo=f"{row.book_as} via Hyperliquid sub-account {row.sub_account.address}",
        )
    audit_record(
        action="hyperliquid.transfer",
        subject=subject,
        after={
            "key": row.key,
            "sub_account": row.sub_account.address,
            "amount": row.amount,
            "booked": row.book_as,
            "venue_hash": venue_hash,
        },
    )


def _found_at_venue(client: Client, row: HyperliquidTransfer) -> str | None:
    """The venue's hash of this transfer, if its ledger shows it."""
    sub = row.sub_account.address
    start = max(0, (row.sent_ms or 0) - SEARCH_MARGIN_MS)
    entries = client.history("userNonFundingLedgerUpdates", sub, start, polling=False)
    claimed = set(
        HyperliquidTransfer.objects.exclude(venue_hash="")
        .exclude(pk=row.pk)
        .values_list("venue_hash", flat=True)
    )
    deposit = row.amount > 0
    for entry in entries:
        delta = entry.get("delta") if isinstance(entry, dict) else None
        if not isinstance(delta, dict) or delta.get("type") != "subAccountTransfer":
            continue
        try:
            usdc = wire.dec(delta.get("usdc"), "usdc")
        except wire.WireError:
            continue
        to_sub = str(delta.get("destination", "")).lower() == sub
        from_sub = str(delta.get("user", "")).lower() == sub
        if usdc == abs(row.amount) and (to_sub if deposit else from_sub):
            venue_hash = str(entry.get("hash") or f"time:{entry.get('time')}")
            if venue_hash not in claimed:
                return venue_hash
    return None


def transfer_execute(
    *,
    sub: SubAccount,
    amount: Decimal,
    key: str,
    book_as: str = "",
    account: TradingAccount | None = None,
) -> HyperliquidTransfer:
    """Move `amount` to the sub-account (negative: back to its master), once per `key`.

    Runs outside any transaction: each state is committed before the next request leaves.
    Raises VenueTimeout when the outcome is unknown (a retry will look before resending) and
    VenueError with the venue's words when it refused (the transfer is then failed)."""
    if not amount:
        raise VenueError("A transfer of 0 is not a transfer.")
    usd = to_micro_usd(amount)
    row = _record(key=key, sub=sub, amount=amount, book_as=book_as, account=account)
    if row.status == HyperliquidTransfer.Status.DONE:
        return row
    if row.status == HyperliquidTransfer.Status.FAILED:
        raise VenueError(row.reason or "This transfer failed at Hyperliquid.")
    client = Client(sub.master)
    if row.status == HyperliquidTransfer.Status.SENT:
        found = _found_at_venue(client, row)
        if found is not None:
            log.info("transfer %s was done at the venue already (%s)", key, found)
            _complete(row, found)
            return row
    _set(row, status=HyperliquidTransfer.Status.SENT, sent_ms=int(time.time() * 1000))
    try:
        answer = client.act(
            "subAccountTransfer",
            lambda exchange: exchange.sub_account_transfer(sub.address, amount > 0, usd),
        )
        wire.exchange_data(answer, "subAccountTransfer")
    except VenueTimeout:
        raise
    except wire.RefusedByVenue as refused:
        _set(row, status=HyperliquidTransfer.Status.FAILED, reason=refused.reason)
        log.warning("transfer %s refused by Hyperliquid: %s", key, refused.reason)
        raise VenueError(refused.reason) from None
    except wire.WireError as exc:
        raise VenueTimeout(
            f"Hyperliquid's answer to subAccountTransfer was malformed ({exc}); it will be looked "
            "for in the sub-account's ledger before anything is resent."
        ) from None
    except VenueError as exc:
        # Retryable here means it never reached the venue (our budget, a 429, no connection).
        status = HyperliquidTransfer.Status.PENDING if exc.retryable else "failed"
        _set(row, status=status, reason=exc.reason)
        raise
    _complete(row, "")
    return row


def transfer_retry(*, key: str) -> None:
    """Let a failed transfer be tried again (after the cause was fixed, e.g. the master
    funded); it is looked for at the venue first like any other."""
    HyperliquidTransfer.objects.filter(key=key, status=HyperliquidTransfer.Status.FAILED).update(
        status=HyperliquidTransfer.Status.SENT, reason="", updated_at=clock.now()
    )
