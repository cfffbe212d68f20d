"""A paper book as JSON and back, exactly (Decimals as strings). Pure: no Django."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from apps.trading.venues.paper.matching import (
    Book,
    Fees,
    Instrument,
    OrderSpec,
    Position,
    Quote,
    Slippage,
)


def _d(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _s(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:f}"


def dump_book(book: Book) -> dict:
    return {
        "balance": _s(book.balance),
        "leverage": dict(book.leverage),
        "positions": {
            c: {"size": _s(p.size), "entry_price": _s(p.entry_price)}
            for c, p in book.positions.items()
        },
        "orders": [
            {
                "order_id": o.order_id,
                "client_order_id": o.client_order_id,
                "coin": o.coin,
                "side": o.side,
                "size": _s(o.size),
                "kind": o.kind,
                "limit_price": _s(o.limit_price),
                "trigger_price": _s(o.trigger_price),
                "tif": o.tif,
                "reduce_only": o.reduce_only,
            }
            for o in book.orders.values()
        ],
        "quotes": {
            c: {
                "mark": _s(q.mark),
                "oracle": _s(q.oracle),
                "mid": _s(q.mid),
                "funding_rate": _s(q.funding_rate),
            }
            for c, q in book.quotes.items()
        },
        "funded_until": book.funded_until.isoformat() if book.funded_until else None,
        "fill_seq": book.fill_seq,
    }


def load_book(
    state: dict, *, instruments: list[Instrument], fees: Fees, slippage: Slippage
) -> Book:
    book = Book.open(instruments, Decimal(state["balance"]), fees=fees, slippage=slippage)
    book.leverage = {c: int(v) for c, v in state.get("leverage", {}).items()}
    book.positions = {
        c: Position(c, Decimal(p["size"]), Decimal(p["entry_price"]))
        for c, p in state.get("positions", {}).items()
    }
    for o in state.get("orders", []):
        spec = OrderSpec(
            order_id=o["order_id"],
            client_order_id=o["client_order_id"],
            coin=o["coin"],
            side=o["side"],
            size=Decimal(o["size"]),
            kind=o["kind"],
            limit_price=_d(o["limit_price"]),
            trigger_price=_d(o["trigger_price"]),
            tif=o["tif"],
            reduce_only=o["reduce_only"],
        )
        book.orders[spec.order_id] = spec
    book.quotes = {
        c: Quote(Decimal(q["mark"]), Decimal(q["oracle"]), _d(q["mid"]), Decimal(q["funding_rate"]))
        for c, q in state.get("quotes", {}).items()
    }
    until = state.get("funded_until")
    book.funded_until = datetime.fromisoformat(until) if until else None
    book.fill_seq = int(state.get("fill_seq", 0))
    return book
