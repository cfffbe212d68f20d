from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import template

register = template.Library()

RULES = {
    "daily_loss": "the daily loss limit",
    "max_loss": "the maximum loss limit",
    "max_duration": "the time limit",
    "profit_target": "the profit target",
}


@register.filter
def rule_label(code: str | None) -> str:
    return RULES.get(code or "", code or "")


@register.filter
def money(value) -> str:
    """1234.5 -> 1,234.50; None -> an em dash."""
    if value in (None, ""):
        return "—"
    try:
        return f"{Decimal(str(value)):,.2f}"
    except InvalidOperation:
        return str(value)


@register.filter
def signed(value) -> str:
    """+1,234.50 / −12.00, for P&L."""
    if value in (None, ""):
        return "—"
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    return f"+{number:,.2f}" if number > 0 else f"{number:,.2f}".replace("-", "−")


@register.filter
def tone(value) -> str:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, TypeError):
        return ""
    return "pos" if number > 0 else ("neg" if number < 0 else "")


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None
