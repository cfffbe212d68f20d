from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from apps.challenges.models_lifecycle import EvaluatedAccount
from apps.challenges.selectors import scenario_export


class Command(BaseCommand):
    help = (
        "Write a trading account's history as a scenario file that `replay_scenario` turns "
        "into the same verdict and figures (ACCOUNT is the trading account's id)."
    )

    def add_arguments(self, parser):
        parser.add_argument("account", type=int)
        parser.add_argument("-o", "--output", help="a file to write (default: standard output)")

    def handle(self, *args, account, output, **options):
        evaluated = EvaluatedAccount.objects.filter(trading_account_id=account).first()
        if evaluated is None:
            raise CommandError(f"Trading account {account} is not judged by a rule set.")
        text = json.dumps(scenario_export(evaluated), indent=2) + "\n"
        if output:
            with open(output, "w") as handle:
                handle.write(text)
        else:
            self.stdout.write(text, ending="")
