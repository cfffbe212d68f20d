"""Which venue object serves an account. Nothing else in the code asks which venue it is."""

from __future__ import annotations

from functools import cache

from apps.trading.venues.base import Venue

_FACTORIES: dict[str, type] = {}


def register_venue(name: str, factory) -> None:
    """Venues register here (the paper venue below; hyperliquid when it lands)."""
    _FACTORIES[name] = factory
    venue_named.cache_clear()


@cache
def venue_named(name: str) -> Venue:
    try:
        return _FACTORIES[name]()
    except KeyError:
        raise LookupError(f"no venue called {name!r}") from None


def venue_for(account) -> Venue:
    return venue_named(account.venue)
