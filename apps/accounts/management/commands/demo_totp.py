from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from apps.accounts.demo import DemoError, current_totp


class Command(BaseCommand):
    help = "Print the current two-factor code of a demo staff person (demo e-mail domain only)."

    def add_arguments(self, parser):
        parser.add_argument("email")

    def handle(self, *args, email, **options):
        try:
            self.stdout.write(current_totp(email, time.time()))
        except DemoError as exc:
            raise CommandError(str(exc)) from None
