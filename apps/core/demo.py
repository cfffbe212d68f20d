"""The demo-data registry: each app registers what `seed_demo` loads for it.

Apps register in their AppConfig.ready(), so core (the lowest app) can run every app's
seeder without importing any of them. Seeders run in app order and must be idempotent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Seeder:
    order: int
    name: str
    run: Callable[[], list[str]]  # returns lines to print


_SEEDERS: dict[str, Seeder] = {}


def register_seeder(*, order: int, name: str, run: Callable[[], list[str]]) -> None:
    _SEEDERS[name] = Seeder(order, name, run)


def seeders() -> list[Seeder]:
    return sorted(_SEEDERS.values(), key=lambda s: s.order)
