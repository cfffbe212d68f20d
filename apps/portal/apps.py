from django.apps import AppConfig


class PortalConfig(AppConfig):
    """Portal: the trader's dashboard (/dashboard/) and trading page (/trade/) with live P&L
    and rule headroom, and their websocket consumers. Not built yet (issue 8).
    """

    name = "apps.portal"
    label = "portal"
