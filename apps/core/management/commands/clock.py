from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.core.management.base import BaseCommand, CommandError

from apps.core import clock

_DELTA = re.compile(r"^(-?\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class Command(BaseCommand):
    help = (
        "Show or move the shared clock of every process (development and tests only): "
        "clock show | clock advance 3d | clock travel 2026-12-01T00:00:00Z | "
        "clock freeze ISO | clock reset"
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["show", "advance", "travel", "freeze", "reset"])
        parser.add_argument("value", nargs="?")

    def handle(self, *args, action, value, **options):
        try:
            if action == "advance":
                match = _DELTA.match(value or "")
                if not match:
                    raise CommandError("advance takes an amount like 90s, 15m, 6h or 3d")
                clock.advance(timedelta(**{_UNITS[match[2]]: int(match[1])}))
            elif action in ("travel", "freeze"):
                try:
                    at = datetime.fromisoformat(value or "")
                except ValueError:
                    raise CommandError(
                        f"{action} takes an ISO time with an offset, e.g. 2026-12-01T00:00:00Z"
                    ) from None
                getattr(clock, action)(at)
            elif action == "reset":
                clock.reset()
        except clock.ClockError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(clock.describe())
