"""The Hyperliquid venue: the venue protocol over sub-accounts of the firm's master accounts.

An account's venue account is its sub-account's address (set when provisioning is ready;
until then `hyperliquid-<id>`, and every order is refused saying provisioning is not done).
Orders carry our client id as Hyperliquid's cloid, are recorded before they are sent, and a
place of a cloid whose earlier send has no known outcome asks the venue (orderStatus) before
sending again. Fills and funding are read by time (userFillsByTime, userFunding) from the
account's cursor, never before the sub-account became this account's.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from apps.core import clock
from apps.trading import tasks_hyperliquid  # noqa: F401  (the worker imports the venue at ready())
from apps.trading.models_hyperliquid import HyperliquidOrder, SubAccount
from apps.trading.venues.base import (
    FundingPayment,
    OrderRequest,
    OrderStatus,
    VenueBalance,
    VenueError,
    VenueFill,
    VenueTimeout,
)
from apps.trading.venues.hyperliquid import config, selectors, wire
from apps.trading.venues.hyperliquid.client import Client
from apps.trading.venues.hyperliquid.ordering import OrderShapeError, WireOrder, wire_order
from apps.trading.venues.paper.hlrules import MISSING_ORDER

log = logging.getLogger("apps.trading.venues.hyperliquid")

_FROM_STATUS = {
    "open": HyperliquidOrder.Status.OPEN,
    "filled": HyperliquidOrder.Status.FILLED,
    "cancelled": HyperliquidOrder.Status.CANCELLED,
    "rejected": HyperliquidOrder.Status.REJECTED,
}


def _cloid(client_id: str):
    from hyperliquid.utils.types import Cloid

    try:
        return Cloid(client_id)
    except TypeError as exc:
        raise VenueError(f"Client id {client_id!r} is not a Hyperliquid cloid: {exc}") from None


def _note(order: HyperliquidOrder, status: OrderStatus, oid: int | None = None) -> None:
    fields = {"updated_at": clock.now()}
    if status.status in _FROM_STATUS:
        fields["status"] = _FROM_STATUS[status.status]
        fields["reason"] = status.reason
    if oid is not None:
        fields["oid"] = oid
    HyperliquidOrder.objects.filter(pk=order.pk).update(**fields)


class HyperliquidVenue:
    name = "hyperliquid"

    # --- accounts ----------------------------------------------------------------------------
    def open_account(self, *, venue_account: str, balance: Decimal) -> None:
        """Called once the account is committed: ask for its funded sub-account."""
        from apps.trading.models import TradingAccount
        from apps.trading.venues.hyperliquid.provisioning import provisioning_request

        account_id = venue_account.removeprefix("hyperliquid-")
        account = TradingAccount.objects.filter(pk=account_id if account_id.isdigit() else None)
        account = account.first()
        if account is None:
            raise VenueError(f"No trading account behind {venue_account!r}.")
        provisioning_request(account=account, allocation=balance)

    def transfer(self, venue_account: str, amount: Decimal, *, key: str) -> None:
        """Positive: master -> sub-account; negative: back. Booked in our ledger when the key
        says payout or resize (see transfers.py)."""
        from apps.trading.venues.hyperliquid.transfers import book_as_for, transfer_execute

        sub = selectors.sub_account_any(venue_account)
        if sub.status != SubAccount.Status.ASSIGNED:
            raise VenueError(f"Sub-account {sub.address} serves no account.")
        transfer_execute(
            sub=sub, amount=amount, key=key, book_as=book_as_for(key), account=sub.trading_account
        )

    def balance(self, venue_account: str) -> VenueBalance:
        sub = selectors.sub_account_any(venue_account)
        state = Client(sub.master).clearinghouse(sub.address)
        try:
            return wire.balance(state)
        except wire.WireError as exc:
            raise VenueError(f"Hyperliquid's clearinghouseState is malformed: {exc}") from None

    # --- orders ------------------------------------------------------------------------------
    def place(self, venue_account: str, request: OrderRequest) -> OrderStatus:
        sub = selectors.sub_account_trading(venue_account)
        client = Client(sub.master, vault=sub.address)
        known = HyperliquidOrder.objects.filter(cloid=request.client_id).first()
        if known is not None:
            if known.sub_account_id != sub.pk:
                raise VenueError(f"Client id {request.client_id} belongs to another sub-account.")
            # Sent before with no known outcome (or known): the venue says what became of it.
            status = self._ask(client, sub, request.client_id)
            if status.status != "unknown":
                _note(known, status)
                return status
        try:
            sz_decimals = client.sz_decimals(request.coin)
            mid = client.mid(request.coin) if request.kind == "market" else None
            order = wire_order(
                request, sz_decimals=sz_decimals, mid=mid, slippage=config.market_slippage()
            )
        except OrderShapeError as exc:
            return OrderStatus(request.client_id, "rejected", reason=str(exc))
        if known is None:
            known = HyperliquidOrder.objects.create(
                cloid=request.client_id,
                sub_account=sub,
                coin=order.coin,
                side=request.side,
                kind=request.kind,
                tif=request.tif,
                reduce_only=order.reduce_only,
                size=order.size,
                limit_price=order.limit_price,
                trigger_price=order.trigger_price,
            )
        return self._send(client, known, order, request.client_id)

    def _send(
        self, client: Client, record: HyperliquidOrder, order: WireOrder, client_id: str
    ) -> OrderStatus:
        answer = client.act(
            "order",
            lambda exchange: exchange.order(
                order.coin,
                order.is_buy,
                float(order.size),
                float(order.limit_price),
                order.sdk_order_type(),
                reduce_only=order.reduce_only,
                cloid=_cloid(client_id),
            ),
        )
        try:
            entries = wire.order_statuses(wire.exchange_data(answer, "order"))
            status, oid = wire.order_outcome(client_id, entries[0])
        except wire.RefusedByVenue as refused:
            status, oid = OrderStatus(client_id, "rejected", reason=refused.reason), None
        except (wire.WireError, IndexError) as exc:
            raise VenueTimeout(
                f"Hyperliquid's answer to the order was unreadable ({exc}); its status will be "
                "asked before anything is resent."
            ) from None
        if status.status == "rejected":
            log.warning("hyperliquid rejected order %s: %s", client_id, status.reason)
        _note(record, status, oid)
        return status

    def _ask(self, client: Client, sub: SubAccount, client_id: str) -> OrderStatus:
        """orderStatus by cloid. Any failure keeps the outcome unknown (VenueTimeout), so
        nothing is resent on a guess."""
        try:
            answer = client.order_status(sub.address, client_id)
            return wire.order_status(client_id, answer)
        except wire.WireError as exc:
            raise VenueTimeout(f"Hyperliquid's orderStatus answer is malformed ({exc}).") from None
        except VenueError as exc:
            if isinstance(exc, VenueTimeout):
                raise
            raise VenueTimeout(f"Could not ask Hyperliquid for the order: {exc.reason}") from None

    def order_status(self, venue_account: str, client_id: str) -> OrderStatus:
        sub = selectors.sub_account_any(venue_account)
        status = self._ask(Client(sub.master), sub, client_id)
        record = HyperliquidOrder.objects.filter(cloid=client_id).first()
        if record is not None and status.status != "unknown":
            _note(record, status)
        return status

    def _record(self, sub: SubAccount, client_id: str) -> HyperliquidOrder:
        record = HyperliquidOrder.objects.filter(cloid=client_id, sub_account=sub).first()
        if record is None:
            raise VenueError(MISSING_ORDER)
        return record

    def cancel(self, venue_account: str, client_id: str) -> OrderStatus:
        sub = selectors.sub_account_any(venue_account)
        record = self._record(sub, client_id)
        client = Client(sub.master, vault=sub.address)
        answer = client.act(
            "cancel", lambda exchange: exchange.cancel_by_cloid(record.coin, _cloid(client_id))
        )
        try:
            entries = wire.order_statuses(wire.exchange_data(answer, "cancel"))
            outcome = wire.cancel_outcome(client_id, entries[0])
        except wire.RefusedByVenue as refused:
            raise VenueError(refused.reason) from None
        except (wire.WireError, IndexError) as exc:
            raise VenueTimeout(
                f"Hyperliquid's answer to the cancel was unreadable ({exc})."
            ) from None
        if isinstance(outcome, str):
            # Too late to cancel: if it filled or was cancelled meanwhile, that is the answer.
            status = self._ask(client, sub, client_id)
            if status.status in ("filled", "cancelled"):
                _note(record, status)
                return status
            raise VenueError(outcome)
        _note(record, outcome)
        return outcome

    def modify(
        self,
        venue_account: str,
        client_id: str,
        *,
        size: Decimal | None = None,
        limit_price: Decimal | None = None,
        trigger_price: Decimal | None = None,
    ) -> OrderStatus:
        sub = selectors.sub_account_any(venue_account)
        record = self._record(sub, client_id)
        client = Client(sub.master, vault=sub.address)
        changed = OrderRequest(
            client_id=client_id,
            coin=record.coin,
            side=record.side,
            kind=record.kind if record.kind != "market" else "limit",
            size=size if size is not None else record.size,
            limit_price=limit_price if limit_price is not None else record.limit_price,
            trigger_price=trigger_price if trigger_price is not None else record.trigger_price,
            tif=record.tif or "gtc",
            reduce_only=record.reduce_only,
        )
        try:
            order = wire_order(
                changed,
                sz_decimals=client.sz_decimals(record.coin),
                mid=None,
                slippage=config.market_slippage(),
            )
        except OrderShapeError as exc:
            raise VenueError(str(exc)) from None
        answer = client.act(
            "modify",
            lambda exchange: exchange.modify_order(
                _cloid(client_id),
                order.coin,
                order.is_buy,
                float(order.size),
                float(order.limit_price),
                order.sdk_order_type(),
                reduce_only=order.reduce_only,
                cloid=_cloid(client_id),
            ),
        )
        try:
            data = wire.exchange_data(answer, "batchModify")
            status = OrderStatus(client_id, "open")
            if data is not None:
                status, _ = wire.order_outcome(client_id, wire.order_statuses(data)[0])
        except wire.RefusedByVenue as refused:
            raise VenueError(refused.reason) from None
        except (wire.WireError, IndexError) as exc:
            raise VenueTimeout(
                f"Hyperliquid's answer to the modify was unreadable ({exc})."
            ) from None
        if status.status == "rejected":
            raise VenueError(status.reason)
        HyperliquidOrder.objects.filter(pk=record.pk).update(
            size=order.size,
            limit_price=order.limit_price,
            trigger_price=order.trigger_price,
            updated_at=clock.now(),
        )
        _note(record, status)
        return status

    def update_leverage(
        self, venue_account: str, coin: str, leverage: int, *, cross: bool = True
    ) -> None:
        """Set the sub-account's leverage on a coin (Hyperliquid keeps it per coin)."""
        sub = selectors.sub_account_trading(venue_account)
        client = Client(sub.master, vault=sub.address)
        client.sz_decimals(coin)  # refuses an unknown coin before anything is signed
        answer = client.act(
            "updateLeverage", lambda exchange: exchange.update_leverage(leverage, coin, cross)
        )
        try:
            wire.exchange_data(answer, "updateLeverage")
        except wire.RefusedByVenue as refused:
            raise VenueError(refused.reason) from None
        except wire.WireError as exc:
            raise VenueError(
                f"Hyperliquid's answer to updateLeverage was unreadable ({exc})."
            ) from None

    def open_orders(self, venue_account: str) -> list[OrderStatus]:
        sub = selectors.sub_account_any(venue_account)
        entries = Client(sub.master).open_orders(sub.address)
        return [
            OrderStatus(e["cloid"], "open")
            for e in entries
            if isinstance(e, dict) and isinstance(e.get("cloid"), str)
        ]

    # --- what happened -----------------------------------------------------------------------
    def _history(self, venue_account: str, cursor: int, kind: str, parse) -> list:
        """Entries from `cursor` (inclusive: entries of the same millisecond are read again and
        booked once by their ids). On any failure nothing is returned and the cursor stays, so
        the next poll reads them again; the reason goes to the log."""
        try:
            sub = selectors.sub_account_any(venue_account)
            start = max(int(cursor), sub.history_from_ms)
            raw = Client(sub.master).history(kind, sub.address, start, polling=True)
        except VenueError as exc:
            log.warning("hyperliquid %s for %s not read: %s", kind, venue_account, exc.reason)
            return []
        found = []
        stop_at = None
        for entry in raw:
            try:
                parsed = parse(entry)
            except wire.WireError as exc:
                # Book nothing from the entry we cannot read on, so it is never skipped: it
                # is read (and logged) again at every poll until it is understood.
                log.error("hyperliquid %s for %s: unreadable entry (%s)", kind, sub.address, exc)
                at = entry.get("time") if isinstance(entry, dict) else None
                at = at if isinstance(at, int) else start
                stop_at = at if stop_at is None else min(stop_at, at)
                continue
            if parsed is not None and parsed.cursor >= start:
                found.append(parsed)
        if stop_at is not None:
            found = [item for item in found if item.cursor < stop_at]
        found.sort(key=lambda item: item.cursor)
        return found

    def fills_since(self, venue_account: str, cursor: int) -> list[VenueFill]:
        return self._history(venue_account, cursor, "userFillsByTime", wire.fill)

    def funding_since(self, venue_account: str, cursor: int) -> list[FundingPayment]:
        return self._history(venue_account, cursor, "userFunding", wire.funding)
