from django.apps import AppConfig


class TradingConfig(AppConfig):
    """Trading: trading accounts, orders, fills, positions and the ledger; order entry
    (`services.order_submit`) with its pre-submit registry (`registry.py`) and outbox
    (`outbox.py`); the venue protocol (`venues/base.py`) and the paper venue
    (`venues/paper/`). The Hyperliquid venue comes with issue 6.
    """

    name = "apps.trading"
    label = "trading"

    def ready(self):
        from apps.trading.venues.hyperliquid.venue import HyperliquidVenue
        from apps.trading.venues.paper.venue import PaperVenue
        from apps.trading.venues.registry import register_venue

        register_venue("paper", PaperVenue)
        register_venue("hyperliquid", HyperliquidVenue)
