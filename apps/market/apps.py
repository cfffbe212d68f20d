from django.apps import AppConfig


class MarketConfig(AppConfig):
    """Market data: perpetual instruments with Hyperliquid's parameters, fee schedules, the
    price-feed sources (synthetic, replay, hyperliquid) that publish frames on a Redis stream,
    the latest mark/oracle prices, and candles for charts. Not built yet (issue 5).
    """

    name = "apps.market"
    label = "market"
