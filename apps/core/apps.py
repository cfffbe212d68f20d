from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Money, the shared clock, the audit log, Redis access and the health check."""

    name = "apps.core"
    label = "core"
