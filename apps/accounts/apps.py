from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    """People: the e-mail user, roles, trader profiles with KYC, the brand, live user events."""

    name = "apps.accounts"
    label = "accounts"

    def ready(self):
        from apps.accounts import api_auth  # noqa: F401 - registers the OpenAPI key scheme
        from apps.accounts.demo import seed
        from apps.core.demo import register_seeder

        post_migrate.connect(_sync_roles, dispatch_uid="accounts.sync_roles")
        register_seeder(order=10, name="people", run=seed)


def _sync_roles(sender, **kwargs):
    # Permissions of apps migrated later reach their roles here.
    from django.contrib.auth.models import Group, Permission

    from apps.accounts.roles import sync_roles

    # Sent once per app that has models, after that app's permissions are created; the last
    # call sees every app's permissions. Cheap (a few hundred rows), and only on migrate/flush.
    sync_roles(Group, Permission)
