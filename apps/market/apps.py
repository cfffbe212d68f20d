from django.apps import AppConfig


class MarketConfig(AppConfig):
    """Market data: perpetual instruments with Hyperliquid's parameters, the fee schedule, the
    price-feed sources (synthetic, replay, hyperliquid) whose frames go out on the Redis stream
    `market:frames` (latest in `market:frame:latest`), and candles for charts.
    """

    name = "apps.market"
    label = "market"

    def ready(self):
        from apps.core.demo import register_seeder
        from apps.market.demo import seed

        register_seeder(order=20, name="market", run=seed)
