from django.apps import AppConfig


class TradingConfig(AppConfig):
    """Trading: trading accounts, orders, fills, positions and the ledger; order entry
    (`order_submit`) with its pre-submit registry and outbox; the venue protocol and its venues
    (venues/paper, venues/hyperliquid). Not built yet (issues 5 and 6).
    """

    name = "apps.trading"
    label = "trading"
