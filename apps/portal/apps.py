from django.apps import AppConfig


class PortalConfig(AppConfig):
    """Portal: the trader's dashboard (/dashboard/) and trading page (/trade/) with live P&L
    and rule headroom, and their websocket consumer (/ws/accounts/<id>/, group
    `account.<id>`). After every booked fill it pushes the account's snapshot to that group.
    """

    name = "apps.portal"
    label = "portal"

    def ready(self):
        from apps.portal.services import on_account_activity
        from apps.trading.signals import account_activity

        account_activity.connect(on_account_activity, dispatch_uid="portal.snapshot")
