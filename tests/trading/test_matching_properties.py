"""Properties of the paper book over random sequences of orders, cancels, modifies and frames."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.trading.venues.paper import hlrules
from apps.trading.venues.paper.matching import (
    Book,
    Filled,
    Frame,
    FundingPaid,
    Instrument,
    Modified,
    OrderSpec,
    Quote,
    Slippage,
    round_price,
    round_size,
)

D = Decimal
ETH = Instrument("ETH", sz_decimals=2, max_leverage=25)
T0 = datetime(2025, 3, 3, 9, 40, tzinfo=UTC)
START = D("1000")
KINDS = ["market", "market", "limit", "limit", "limit"]
KINDS += ["stop_market", "stop_limit", "take_profit", "stop_loss"]

place_op = st.tuples(
    st.just("place"),
    st.sampled_from(["buy", "sell"]),
    st.sampled_from(KINDS),
    st.sampled_from(["gtc", "ioc", "alo"]),
    st.one_of(st.integers(5, 500), st.integers(500, 30_000)),  # lots of 0.01: $5 to $30k
    st.integers(-100, 400),  # limit distance from the touch, bps (positive: passive)
    st.integers(-300, 300),  # trigger offset from the mark, bps
    st.sampled_from([False, False, True]),  # reduce-only
    st.booleans(),  # market order with a slippage cap
)
cancel_op = st.tuples(st.just("cancel"), st.integers(0, 50))
modify_op = st.tuples(st.just("modify"), st.integers(0, 50), st.integers(-300, 300))
frame_op = st.tuples(
    st.just("frame"),
    st.integers(-400, 400),  # mid move, bps
    st.integers(-20, 20),  # mark minus mid, bps
    st.integers(-50, 50),  # funding rate, in 0.00001
    st.integers(0, 150),  # minutes forward
    st.booleans(),  # mid missing
)
operations = st.lists(
    st.one_of(place_op, place_op, place_op, cancel_op, modify_op, frame_op, frame_op, frame_op),
    min_size=10,
    max_size=60,
)

# Resting reduce-only orders whose position changes under them before they fill: the case a
# check made only at placement would miss.
reduce_only_operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("place"),
            st.sampled_from(["buy", "sell"]),
            st.sampled_from(["market", "limit", "stop_market", "take_profit", "stop_loss"]),
            st.just("gtc"),
            st.integers(10, 3000),
            st.integers(0, 150),
            st.integers(-150, 150),
            st.booleans(),
            st.just(False),
        ),
        st.tuples(
            st.just("frame"),
            st.integers(-200, 200),
            st.just(0),
            st.just(0),
            st.integers(0, 5),
            st.just(False),
        ),
    ),
    min_size=10,
    max_size=40,
)


@dataclass
class Run:
    """A book driven by a list of operations, with every event it answered."""

    book: Book = field(
        default_factory=lambda: Book.open(
            [ETH], START, slippage=Slippage(D("2"), impact_bps_per_million=D("50"))
        )
    )
    mid: Decimal = D("100")
    quote: Quote = field(default_factory=lambda: Quote(D("100"), D("100"), D("100"), D("0")))
    t: datetime = T0
    specs: dict[str, OrderSpec] = field(default_factory=dict)
    placed: list[str] = field(default_factory=list)
    # (event, touch at the time, position before the event)
    log: list[tuple[object, Decimal, Decimal]] = field(default_factory=list)

    def record(self, events: list, held: Decimal) -> None:
        """Log a batch of events; `held` is the position before the call that answered them."""
        for event in events:
            if isinstance(event, Modified):
                self.specs[event.order_id] = event.spec
            self.log.append((event, self.quote.touch, held))
            if isinstance(event, Filled):
                held += event.size if event.side == "buy" else -event.size

    def position(self) -> Decimal:
        return self.book.position_size("ETH")

    def step(self, op: tuple) -> None:
        held = self.position()
        if op[0] == "frame":
            _, move, mark_bps, rate, minutes, no_mid = op
            self.mid = (self.mid * (1 + D(move) / 10_000)).quantize(D("0.0001"))
            mark = (self.mid * (1 + D(mark_bps) / 10_000)).quantize(D("0.0001"))
            self.t += timedelta(minutes=minutes, seconds=1)
            self.quote = Quote(mark, mark, None if no_mid else self.mid, D(rate) / 100_000)
            self.record(self.book.on_frame(Frame(self.t, {"ETH": self.quote})), held)
        elif op[0] == "place":
            _, side, kind, tif, lots, limit_bps, trigger_bps, reduce_only, capped = op
            touch, mark = self.quote.touch, self.quote.mark
            away = -1 if side == "buy" else 1
            limit = round_price(touch * (1 + away * D(limit_bps) / 10_000), 2, side)
            trigger = round_price(mark * (1 + D(trigger_bps) / 10_000), 2)
            order_id = f"o{len(self.placed)}"
            spec = OrderSpec(
                order_id,
                None,
                "ETH",
                side,
                D(lots) / 100,
                kind,
                limit_price=limit if kind in ("limit", "stop_limit") or capped else None,
                trigger_price=trigger if kind not in ("market", "limit") else None,
                tif=tif,
                reduce_only=reduce_only,
            )
            self.placed.append(order_id)
            self.specs[order_id] = spec
            self.record(self.book.place(spec, self.quote, self.t), held)
        elif op[0] == "cancel" and self.placed:
            # Mostly resting orders, sometimes one that is gone (filled or cancelled).
            ids = list(self.book.orders) if op[1] % 4 else self.placed
            ids = ids or self.placed
            self.record(self.book.cancel(ids[op[1] % len(ids)]), held)
        elif op[0] == "modify" and self.placed:
            ids = list(self.book.orders) or self.placed
            order_id = ids[op[1] % len(ids)]
            old = self.book.orders.get(order_id)
            if old is None or old.limit_price is None:
                return
            side = old.side
            price = round_price(old.limit_price * (1 + D(op[2]) / 10_000), 2, side)
            self.record(
                self.book.modify(order_id, quote=self.quote, now=self.t, limit_price=price), held
            )

    def fills(self) -> list[tuple[Filled, Decimal, Decimal]]:
        return [(e, touch, held) for e, touch, held in self.log if isinstance(e, Filled)]


def run(ops: list[tuple]) -> Run:
    r = Run()
    for op in ops:
        r.step(op)
    return r


PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(operations)
def test_no_fill_is_ever_through_its_limit_price(ops: list[tuple]) -> None:
    r = run(ops)
    for fill, _, _ in r.fills():
        if fill.order_id is None:
            continue
        limit = r.specs[fill.order_id].limit_price
        if limit is not None:
            assert fill.price <= limit if fill.side == "buy" else fill.price >= limit


@PROPERTY
@given(operations)
def test_a_taker_never_fills_better_than_the_touch(ops: list[tuple]) -> None:
    for fill, touch, _ in run(ops).fills():
        if fill.liquidity == "taker" and fill.order_id is not None:
            assert fill.price >= touch if fill.side == "buy" else fill.price <= touch


@PROPERTY
@given(operations)
def test_post_only_order_never_takes(ops: list[tuple]) -> None:
    r = run(ops)
    for fill, _, _ in r.fills():
        spec = r.specs.get(fill.order_id or "")
        if spec is not None and spec.kind == "limit" and spec.tif == "alo":
            assert fill.liquidity == "maker"


@PROPERTY
@given(st.one_of(operations, reduce_only_operations))
def test_reduce_only_never_increases_or_flips_a_position(ops: list[tuple]) -> None:
    r = run(ops)
    for fill, _, held in r.fills():
        if fill.order_id is None or not r.specs[fill.order_id].reduce_only:
            continue
        after = held + (fill.size if fill.side == "buy" else -fill.size)
        assert held != 0
        assert abs(after) < abs(held)
        assert after == 0 or (after > 0) == (held > 0)


@PROPERTY
@given(operations)
def test_balance_equals_start_plus_realised_minus_fees_plus_funding(ops: list[tuple]) -> None:
    r = Run()
    realised = fees = funding = D("0")
    for op in ops:
        before = len(r.log)
        r.step(op)
        for event, _, _ in r.log[before:]:
            if isinstance(event, Filled):
                realised += event.realized_pnl
                fees += event.fee
            elif isinstance(event, FundingPaid):
                funding += event.amount
        assert r.book.balance == START + realised - fees + funding


@PROPERTY
@given(operations)
def test_the_position_is_the_sum_of_its_fills_and_on_the_lot(ops: list[tuple]) -> None:
    r = run(ops)
    total = sum((f.size if f.side == "buy" else -f.size for f, _, _ in r.fills()), D("0"))
    assert r.position() == total
    assert r.position() == round_size(r.position(), ETH.sz_decimals)
    for fill, _, _ in r.fills():
        if fill.order_id is not None:
            assert hlrules.is_valid_price(fill.price, ETH.sz_decimals)


# --- The grid --------------------------------------------------------------------------------
prices = st.decimals(min_value=D("0.000001"), max_value=D("10000000"), places=8)


def _valid_by_digits(price: Decimal, sz: int) -> bool:
    """An independent reading of HL's rule: count the digits of the plain decimal string."""
    text = f"{price.normalize():f}"
    if "." not in text:
        return True
    whole, decimals = text.split(".")
    significant = (whole.lstrip("0") + decimals).lstrip("0")
    return len(decimals) <= 6 - sz and len(significant) <= 5


@settings(max_examples=2000, deadline=None)
@given(prices, st.integers(0, 5))
def test_price_validity_matches_a_count_of_digits(price: Decimal, sz: int) -> None:
    assert hlrules.is_valid_price(price, sz) == _valid_by_digits(price, sz)


@settings(max_examples=2000, deadline=None)
@given(prices, st.integers(0, 5))
def test_round_price_lands_on_the_grid_on_the_less_aggressive_side(price: Decimal, sz: int) -> None:
    down, up = round_price(price, sz, "buy"), round_price(price, sz, "sell")
    assert down <= price <= up
    assert hlrules.is_valid_price(up, sz)
    assert down == 0 or hlrules.is_valid_price(down, sz)
    if hlrules.is_valid_price(price, sz):
        assert down == price == up


@settings(max_examples=1000, deadline=None)
@given(st.decimals(min_value=D("0"), max_value=D("100000"), places=8), st.integers(0, 5))
def test_round_size_lands_on_the_lot_below(size: Decimal, sz: int) -> None:
    rounded = round_size(size, sz)
    assert rounded <= size < rounded + D(1).scaleb(-sz)
    assert rounded == 0 or hlrules.is_valid_size(rounded, sz)
