from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apps.accounts.models import ApiKey, User
from apps.accounts.services import AccountsError, api_key_create


class Command(BaseCommand):
    help = "Issue an API key for a person; the key is printed once, on the last line."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--name", default="command line")
        parser.add_argument("--scope", choices=ApiKey.Scope.values, default=ApiKey.Scope.TRADING)

    def handle(self, *args, email, name, scope, **options):
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            raise CommandError(f"No person with the e-mail {email}.")
        try:
            key, raw = api_key_create(user=user, name=name, scope=scope)
        except AccountsError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{scope} key {key.prefix}… for {user.email} (shown once, keep it safe):")
        self.stdout.write(raw)
