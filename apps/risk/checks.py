"""The gate's Django side: read what the pure gate needs, ask it, answer trading's registry.

Registered as the pre-submit check "risk.gate" (RiskConfig.ready). `order_submit` runs the
checks inside the transaction that writes the order, after locking the account row FOR UPDATE,
and hands that fresh row over as `context.account`: the gate reads the account's state, status,
balance and venue from it, never from an instance the caller loaded earlier. A state change
(`account_set_state` locks the same row) therefore either commits first, and the gate sees it,
or waits until this order is written; the lock also serialises orders on one account, which
keeps the open-order and order-rate counts exact.

Per order it makes four queries in one round trip (SQL written rather than compiled by the
ORM: this is the order hot path), and no Redis read of its own:

1. one aggregate over the account's orders: open orders, orders created in the last 60 s, the
   client order id already used, and the resting size in this coin on each side;
2. the account's open positions;
3. the pinned rule set's limits (`challenges.selectors.account_limits`);
4. the risk managers' overrides: read on every order, never cached, so an override holds from
   the next order on;

and the latest marks, which order entry read to validate the intent and hands over in the
context (`trading.market_view.quotes`, one Redis read when a caller did not). Instruments come from
trading's in-process cache. An account on a live venue adds the firm's exposure, cached about
a second per process (`risk.selectors.firm_snapshot`), so at most two more queries a second.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db import connection

from apps.challenges.selectors import account_limits_from_row, account_limits_query
from apps.core import rows
from apps.risk.gate import GateInput, GateLimits, GatePosition, check, equity_of
from apps.risk.models import LimitOverride
from apps.risk.selectors import firm_snapshot, limits_merge
from apps.trading import market_view
from apps.trading.models import Order, Position, Venue
from apps.trading.registry import Refusal, SubmitContext

ZERO = Decimal(0)
GATE = "risk.gate"  # the gate's name in trading's pre-submit registry
RATE_WINDOW = timedelta(seconds=60)
LIVE = (Order.Status.PENDING, Order.Status.OPEN)


def gate_reads(context: SubmitContext) -> list[tuple[str, list]]:
    """The gate's four statements: the order counts, the open positions, the overrides and
    the rule set's limits, SQL written rather than compiled by the ORM (this is the order hot
    path). Order entry sends them in the round trip that locks the account (registered with
    the gate in RiskConfig.ready)."""
    intent = context.intent
    pk = context.account.pk
    quote = connection.ops.quote_name
    orders = quote(Order._meta.db_table)
    live = "status IN (%s, %s)"
    cid = intent.client_order_id
    wanted = f"({live} OR created_at >= %s OR (%s <> '' AND client_order_id = %s))"
    params: list = [*LIVE, context.now - RATE_WINDOW]
    params += [*LIVE, intent.coin, *LIVE, intent.coin, cid, cid]
    params += [pk, *LIVE, context.now - RATE_WINDOW, cid, cid]
    replaced = ""
    if context.replaces is not None:
        # A modify replaces its order: it is not one more open order, nor resting beside itself.
        replaced = " AND id <> %s"
        params.append(context.replaces.pk)
    return [
        (
            f"SELECT count(*) FILTER (WHERE {live}), count(*) FILTER (WHERE created_at >= %s), "
            f"sum(size - filled_size) FILTER (WHERE {live} AND coin = %s AND side = 'buy'), "
            f"sum(size - filled_size) FILTER (WHERE {live} AND coin = %s AND side = 'sell'), "
            "count(*) FILTER (WHERE %s <> '' AND client_order_id = %s) "
            f"FROM {orders} WHERE account_id = %s AND {wanted}{replaced}",
            params,
        ),
        (
            "SELECT coin, size, entry_price, leverage "
            f"FROM {quote(Position._meta.db_table)} WHERE account_id = %s AND size <> 0",
            [pk],
        ),
        (
            f"SELECT field, value FROM {quote(LimitOverride._meta.db_table)} WHERE account_id = %s",
            [pk],
        ),
        account_limits_query(pk),
    ]


def _reads(context: SubmitContext) -> tuple[dict, list[tuple], dict, dict | None]:
    """The rows of `gate_reads`: as order entry read them, else read now in one round trip."""
    found = (context.read or {}).get(GATE)
    if found is None:
        found = rows.run(gate_reads(context))
    counted, positions, overrides, limits = found
    open_, recent, resting_buy, resting_sell, taken = counted[0]
    value_field = LimitOverride._meta.get_field("value")
    overrides = {
        name: value_field.from_db_value(value, None, connection) for name, value in overrides
    }
    limits = account_limits_from_row(limits[0] if limits else None)
    counts = {
        "open": open_,
        "recent": recent,
        "resting_buy": resting_buy,
        "resting_sell": resting_sell,
        "taken": taken,
    }
    return counts, positions, overrides, limits


def _leverage(coin: str, chosen: int | None = None) -> Decimal:
    """The leverage a coin's margin is counted at: the account's choice, else the instrument's
    maximum. Trading does not record a chosen leverage yet (Position.leverage keeps its default
    of 1 and nothing sets it, while the venues margin at the maximum unless told otherwise), so
    only a value above that default is taken as a choice."""
    instrument = market_view.instrument(coin)
    highest = Decimal(instrument.max_leverage) if instrument is not None else Decimal(1)
    if chosen is not None and chosen > 1:
        return min(Decimal(chosen), highest)
    return highest


def gate_input(context: SubmitContext) -> GateInput:
    """Everything the gate needs about this order, read now."""
    intent = context.intent
    account = context.account  # the row order_submit locked (see the module's docstring)
    counts, open_positions, overrides, ruleset_limits = _reads(context)
    quotes = context.quotes if context.quotes is not None else market_view.quotes()
    positions: dict[str, GatePosition] = {}
    for coin, size, entry, chosen in open_positions:
        quote = quotes.get(coin)
        positions[coin] = GatePosition(
            coin=coin,
            size=size,
            entry_price=entry,
            mark=quote.mark if quote is not None else None,
            leverage=_leverage(coin, chosen),
        )
    merged = limits_merge(ruleset_limits, overrides)
    quote = quotes.get(intent.coin)
    own = positions.get(intent.coin)
    live_venue = account.venue != Venue.PAPER
    firm_net, firm_long, firm_short = ZERO, None, None
    if live_venue:
        firm = firm_snapshot()
        firm_net = firm.real_net.get(intent.coin, ZERO)
        coin_limits = firm.limits.get(intent.coin, {})
        firm_long, firm_short = coin_limits.get("long"), coin_limits.get("short")
    return GateInput(
        coin=intent.coin,
        side=intent.side,
        kind=intent.kind,
        size=intent.size,
        limit_price=intent.limit_price,
        trigger_price=intent.trigger_price,
        reduce_only=intent.reduce_only,
        origin=context.origin,
        state=account.state,
        status=account.status,
        state_reason=account.state_reason,
        live_venue=live_venue,
        equity=equity_of(account.balance, positions),
        positions=positions,
        open_orders=counts["open"],
        orders_last_minute=counts["recent"],
        client_order_id_taken=counts["taken"] > 0,
        resting_buy=counts["resting_buy"] or ZERO,
        resting_sell=counts["resting_sell"] or ZERO,
        mark=quote.mark if quote is not None else None,
        leverage=own.leverage if own is not None else _leverage(intent.coin),
        limits=None if merged is None else GateLimits.from_json(merged),
        firm_net_notional=firm_net,
        firm_max_long=firm_long,
        firm_max_short=firm_short,
    )


def gate_check(context: SubmitContext) -> Refusal | None:
    """The pre-submit check trading asks before writing an order."""
    refusal = check(gate_input(context))
    if refusal is None:
        return None
    return Refusal(code=refusal.code, message=refusal.message, field=refusal.field)
