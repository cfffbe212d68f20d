from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from apps.core.demo import seeders


class Command(BaseCommand):
    help = "Load the demo data of every app (idempotent: running it again changes nothing)."

    def handle(self, *args, **options):
        for seeder in seeders():
            with transaction.atomic():
                lines = seeder.run()
            self.stdout.write(f"{seeder.name}:")
            for line in lines:
                self.stdout.write(f"  {line}")
