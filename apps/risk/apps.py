from django.apps import AppConfig


class RiskConfig(AppConfig):
    """Risk: the pure pre-trade gate, the live risk engine and its enforcement, concentration
    alerts, interventions with four-eyes approval, reconciliation and the live firm dashboard.
    Not built yet (issue 7).
    """

    name = "apps.risk"
    label = "risk"
