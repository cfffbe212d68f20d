from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apps.payouts import calc
from apps.payouts.runs import payout_run
from apps.payouts.services import PayoutError


class Command(BaseCommand):
    help = (
        "Run (or resume) the payout run of a frequency for a period (default: the period just "
        "ended). Safe to repeat: each account is paid at most once per period."
    )

    def add_arguments(self, parser):
        parser.add_argument("--frequency", choices=calc.RUN_FREQUENCIES, default="monthly")
        parser.add_argument("--period", help="2026-03 (monthly) or 2026-03-02..2026-03-15")
        parser.add_argument(
            "--force", action="store_true", help="pass over every account again, even if done"
        )

    def handle(self, *args, frequency: str, period: str | None, force: bool, **options):
        try:
            chosen = calc.period_named(frequency, period) if period else None
            run = payout_run(frequency=frequency, period=chosen, force=force)
        except (ValueError, PayoutError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"{run}: {run.processed}/{run.total} accounts, {run.requested} payouts requested, "
            f"{run.held} held"
        )
