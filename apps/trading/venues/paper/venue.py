"""The paper venue: the pure matching engine on its own books (PaperBook, PaperEvent).

It answers through the venue protocol only, keeps every order it was sent under our client
id (so a resend is answered, never placed twice), and records fills and funding as numbered
events that `fills_since` / `funding_since` hand out, like a real venue's history endpoints.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import transaction

from apps.core import clock
from apps.trading import market_view
from apps.trading.models import PaperBook, PaperEvent
from apps.trading.venues.base import (
    FundingPayment,
    OrderRequest,
    OrderStatus,
    VenueBalance,
    VenueError,
    VenueFill,
    VenuePosition,
)
from apps.trading.venues.paper.codec import dump_book, load_book
from apps.trading.venues.paper.matching import (
    Accepted,
    Book,
    Cancelled,
    Event,
    Filled,
    Frame,
    FundingPaid,
    Liquidated,
    Modified,
    OrderSpec,
    Quote,
    Rejected,
    Slippage,
)


def paper_frame(frame) -> Frame:
    """The market's frame as the matching engine's."""
    return Frame(
        frame.t, {c: Quote(t.mark, t.oracle, t.mid, t.funding) for c, t in frame.prices.items()}
    )


def _s(value: Decimal) -> str:
    return f"{value:f}"


class PaperVenue:
    name = "paper"

    def __init__(self, slippage: Slippage | None = None):
        self.slippage = slippage or Slippage()

    # -- the book's storage ---------------------------------------------------------------
    def _load(self, row: PaperBook) -> Book:
        book = load_book(
            row.state["book"],
            instruments=market_view.instruments(),
            fees=market_view.fees(),
            slippage=self.slippage,
        )
        # Margin and liquidation need every coin's latest price, not the last one seen here.
        book.quotes.update(market_view.quotes())
        return book

    def _locked(self, venue_account: str) -> PaperBook:
        row = PaperBook.objects.select_for_update().filter(venue_account=venue_account).first()
        if row is None:
            raise VenueError(f"User or API Wallet {venue_account} does not exist.")
        return row

    def _save(self, row: PaperBook, book: Book, found: list[Event], at: datetime) -> None:
        seen = row.state.setdefault("seen", {})
        seq = row.state.get("seq", 0)
        for event in found:
            if isinstance(event, Accepted | Modified):
                seen[event.order_id] = {"status": "open", "filled": "0", "reason": ""}
            elif isinstance(event, Rejected):
                if event.order_id not in seen or seen[event.order_id]["status"] == "rejected":
                    seen[event.order_id] = {
                        "status": "rejected",
                        "filled": "0",
                        "reason": event.reason,
                    }
            elif isinstance(event, Cancelled):
                seen.setdefault(event.order_id, {"filled": "0"})
                seen[event.order_id].update(status="cancelled", reason=event.reason or event.status)
            elif isinstance(event, Filled | FundingPaid | Liquidated):
                seq += 1
                PaperEvent.objects.create(
                    book=row, seq=seq, kind=_KIND[type(event)], data=_event_data(event), at=at
                )
                if isinstance(event, Filled) and event.order_id is not None:
                    state = seen.setdefault(event.order_id, {"reason": ""})
                    state.update(status="filled", filled=_s(event.size))
        row.state = {**row.state, "book": dump_book(book), "seen": seen, "seq": seq}
        row.live = bool(book.orders) or any(p.size for p in book.positions.values())
        row.version += 1
        row.updated_at = clock.now()
        row.save(update_fields=["state", "live", "version", "updated_at"])

    def _status(self, row: PaperBook, client_id: str) -> OrderStatus:
        seen = row.state.get("seen", {}).get(client_id)
        if seen is None:
            return OrderStatus(client_id, "unknown")
        return OrderStatus(
            client_id, seen["status"], Decimal(seen.get("filled", "0")), seen.get("reason", "")
        )

    # -- the protocol ---------------------------------------------------------------------
    @transaction.atomic
    def open_account(self, *, venue_account: str, balance: Decimal) -> None:
        if PaperBook.objects.filter(venue_account=venue_account).exists():
            return
        book = Book.open(
            market_view.instruments(), balance, fees=market_view.fees(), slippage=self.slippage
        )
        PaperBook.objects.create(
            venue_account=venue_account, state={"book": dump_book(book), "seen": {}, "seq": 0}
        )

    @transaction.atomic
    def place(self, venue_account: str, request: OrderRequest) -> OrderStatus:
        row = self._locked(venue_account)
        known = self._status(row, request.client_id)
        if known.status != "unknown":
            return known  # a resend of an order we already have: answer, never place again
        book = self._load(row)
        quote = market_view.quote(request.coin)
        if request.coin not in book.instruments:
            raise VenueError(f"Unknown asset {request.coin}.")
        if quote is None:
            raise VenueError("Oracle price is not available.", retryable=True)
        spec = OrderSpec(
            order_id=request.client_id,
            client_order_id=request.client_id,
            coin=request.coin,
            side=request.side,
            size=request.size,
            kind=request.kind,
            limit_price=request.limit_price,
            trigger_price=request.trigger_price,
            tif=request.tif,
            reduce_only=request.reduce_only,
        )
        now = clock.now()
        found = book.place(spec, quote, now)
        self._save(row, book, found, now)
        return self._status(row, request.client_id)

    @transaction.atomic
    def cancel(self, venue_account: str, client_id: str) -> OrderStatus:
        row = self._locked(venue_account)
        book = self._load(row)
        found = book.cancel(client_id)
        if isinstance(found[0], Rejected):
            status = self._status(row, client_id)
            if status.status in ("filled", "cancelled"):
                return status
            raise VenueError(found[0].reason)
        self._save(row, book, found, clock.now())
        return self._status(row, client_id)

    @transaction.atomic
    def modify(
        self, venue_account: str, client_id: str, *, size=None, limit_price=None, trigger_price=None
    ) -> OrderStatus:
        row = self._locked(venue_account)
        book = self._load(row)
        spec = book.orders.get(client_id)
        quote = market_view.quote(spec.coin) if spec else None
        if spec is None or quote is None:
            raise VenueError("Order was never placed, already canceled, or filled.")
        now = clock.now()
        found = book.modify(
            client_id,
            quote=quote,
            now=now,
            size=size,
            limit_price=limit_price,
            trigger_price=trigger_price,
        )
        if isinstance(found[0], Rejected):
            raise VenueError(found[0].reason)
        self._save(row, book, found, now)
        return self._status(row, client_id)

    def order_status(self, venue_account: str, client_id: str) -> OrderStatus:
        row = PaperBook.objects.filter(venue_account=venue_account).first()
        if row is None:
            raise VenueError(f"User or API Wallet {venue_account} does not exist.")
        return self._status(row, client_id)

    def open_orders(self, venue_account: str) -> list[OrderStatus]:
        row = PaperBook.objects.get(venue_account=venue_account)
        return [OrderStatus(o["order_id"], "open") for o in row.state["book"]["orders"]]

    def balance(self, venue_account: str) -> VenueBalance:
        row = PaperBook.objects.get(venue_account=venue_account)
        book = row.state["book"]
        return VenueBalance(
            balance=Decimal(book["balance"]),
            positions=[
                VenuePosition(c, Decimal(p["size"]), Decimal(p["entry_price"]))
                for c, p in book["positions"].items()
                if Decimal(p["size"])
            ],
        )

    def _events(self, venue_account: str, cursor: int, kind: str):
        return PaperEvent.objects.filter(
            book__venue_account=venue_account, seq__gt=cursor, kind=kind
        ).order_by("seq")

    def fills_since(self, venue_account: str, cursor: int) -> list[VenueFill]:
        return [
            VenueFill(
                fill_id=f"paper-{e.book_id}-{e.data['fill_id']}",
                client_id=e.data["order_id"],
                coin=e.data["coin"],
                side=e.data["side"],
                size=Decimal(e.data["size"]),
                price=Decimal(e.data["price"]),
                fee=Decimal(e.data["fee"]),
                liquidity=e.data["liquidity"],
                realized_pnl=Decimal(e.data["realized_pnl"]),
                at=datetime.fromisoformat(e.data["t"]),
                cursor=e.seq,
            )
            for e in self._events(venue_account, cursor, "fill")
        ]

    def funding_since(self, venue_account: str, cursor: int) -> list[FundingPayment]:
        return [
            FundingPayment(
                funding_id=f"paper-{e.book_id}-{e.data['coin']}-{e.data['hour']}",
                coin=e.data["coin"],
                amount=Decimal(e.data["amount"]),
                rate=Decimal(e.data["rate"]),
                at=datetime.fromisoformat(e.data["hour"]),
                cursor=e.seq,
            )
            for e in self._events(venue_account, cursor, "funding")
        ]

    @transaction.atomic
    def transfer(self, venue_account: str, amount: Decimal, *, key: str) -> None:
        row = self._locked(venue_account)
        done = row.state.setdefault("transfers", [])
        if key in done:
            return
        book = self._load(row)
        book.balance += amount
        done.append(key)
        self._save(row, book, [], clock.now())

    # -- driven by run_paper_venue ------------------------------------------------------------
    def on_frame(self, frame: Frame) -> list[str]:
        """Match every book against one frame; return the venue accounts that changed."""
        changed = []
        # Only books with resting orders or positions can change on a price.
        live = PaperBook.objects.filter(live=True).values_list("venue_account", flat=True)
        for venue_account in list(live):
            with transaction.atomic():
                row = self._locked(venue_account)
                book = self._load(row)
                found = book.on_frame(frame)
                if found:
                    self._save(row, book, found, frame.t)
                    changed.append(venue_account)
        return changed


_KIND = {Filled: "fill", FundingPaid: "funding", Liquidated: "liquidation"}


def _event_data(event: Filled | FundingPaid | Liquidated) -> dict:
    if isinstance(event, Filled):
        return {
            "fill_id": event.fill_id,
            "order_id": event.order_id,
            "coin": event.coin,
            "side": event.side,
            "size": _s(event.size),
            "price": _s(event.price),
            "fee": _s(event.fee),
            "liquidity": event.liquidity,
            "realized_pnl": _s(event.realized_pnl),
            "t": event.t.isoformat(),
        }
    if isinstance(event, FundingPaid):
        return {
            "coin": event.coin,
            "amount": _s(event.amount),
            "rate": _s(event.rate),
            "oracle": _s(event.oracle),
            "size": _s(event.size),
            "hour": event.hour.isoformat(),
        }
    return {
        "equity": _s(event.equity),
        "maintenance_margin": _s(event.maintenance_margin),
        "t": event.t.isoformat(),
    }
