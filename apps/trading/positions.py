"""One-way position arithmetic, as ../shared/spec/scenario-format.md defines it. Pure."""

from __future__ import annotations

from decimal import Decimal

ZERO = Decimal("0")


def apply_fill(
    size: Decimal, entry: Decimal, side: str, qty: Decimal, price: Decimal
) -> tuple[Decimal, Decimal, Decimal]:
    """(new signed size, new entry price, realised P&L) after a fill on a netted position.

    A fill in the position's direction (or from flat) moves the entry to the size-weighted
    average; a fill against it realises closed qty × (price − entry) × direction and keeps
    the entry; a fill larger than the position closes it and opens the rest at the price.
    """
    signed = qty if side == "buy" else -qty
    if size == 0 or (size > 0) == (signed > 0):
        new_size = size + signed
        entry = (abs(size) * entry + qty * price) / abs(new_size)
        return new_size, entry, ZERO
    direction = 1 if size > 0 else -1
    closed = min(abs(size), qty)
    realized = closed * (price - entry) * direction
    new_size = size + signed
    if new_size == 0:
        return ZERO, ZERO, realized
    if (new_size > 0) != (size > 0):
        return new_size, price, realized
    return new_size, entry, realized


def unrealized(size: Decimal, entry: Decimal, mark: Decimal) -> Decimal:
    return size * (mark - entry)
