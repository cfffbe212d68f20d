from __future__ import annotations

from decimal import Decimal

from django.db.models import QuerySet, Sum

from apps.trading import market_view
from apps.trading.models import Fill, LedgerEntry, Order, Position, TradingAccount
from apps.trading.positions import unrealized


def accounts_of(user) -> QuerySet[TradingAccount]:
    return TradingAccount.objects.filter(owner=user).order_by("-created_at")


def ledger_sum(account: TradingAccount) -> Decimal:
    return LedgerEntry.objects.filter(account=account).aggregate(s=Sum("amount"))["s"] or Decimal(0)


def positions_open(account: TradingAccount) -> QuerySet[Position]:
    return Position.objects.filter(account=account).exclude(size=0).order_by("coin")


def orders_of(account: TradingAccount, *, live_only: bool = False) -> QuerySet[Order]:
    orders = Order.objects.filter(account=account)
    if live_only:
        orders = orders.filter(status__in=[Order.Status.PENDING, Order.Status.OPEN])
    return orders.order_by("-created_at")


def fills_of(account: TradingAccount) -> QuerySet[Fill]:
    return Fill.objects.filter(account=account).select_related("order").order_by("-at", "-id")


def account_valuation(account: TradingAccount) -> dict:
    """Balance, unrealised P&L on the latest marks, equity, margin used, leverage, and each
    open position (margin at the position's leverage, capped by the instrument's maximum)."""
    quotes = market_view.quotes()
    rows = []
    total = margin = notional_total = Decimal(0)
    for position in positions_open(account):
        mark = quotes[position.coin].mark if position.coin in quotes else position.entry_price
        pnl = unrealized(position.size, position.entry_price, mark)
        notional = abs(position.size) * mark
        instrument = market_view.instrument(position.coin)
        highest = instrument.max_leverage if instrument else 1
        # As the gate counts it: a chosen leverage above the default 1, else the instrument's
        # maximum (the venues margin at the maximum unless told otherwise).
        leverage = min(position.leverage, highest) if position.leverage > 1 else highest
        used = notional / leverage
        total += pnl
        margin += used
        notional_total += notional
        rows.append(
            {
                "coin": position.coin,
                "size": position.size,
                "entry_price": position.entry_price,
                "mark": mark,
                "unrealized_pnl": pnl,
                "notional": notional,
                "leverage": leverage,
                "margin_used": used,
            }
        )
    equity = account.balance + total
    return {
        "balance": account.balance,
        "unrealized_pnl": total,
        "equity": equity,
        "margin_used": margin,
        "leverage": notional_total / equity if equity > 0 else None,
        "positions": rows,
    }
