from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apps.core.services import audit_verify_chains


class Command(BaseCommand):
    help = "Recompute every audit chain; exit 1 naming each event that was changed or removed."

    def handle(self, *args, **options):
        checked, problems = audit_verify_chains()
        for problem in problems:
            self.stderr.write(str(problem))
        if problems:
            raise CommandError(f"{len(problems)} problem(s) in {checked} audit event(s)")
        self.stdout.write(f"{checked} audit event(s) verified, every chain intact")
