from django.apps import AppConfig


class RiskConfig(AppConfig):
    """Risk: the pre-trade gate (gate.py, pure; checks.py feeds it from the database and is
    registered in trading's pre-submit registry as "risk.gate"), per-account limit overrides
    and the firm's exposure limits (models, services, admin). Still to come: the live risk
    engine and its enforcement, concentration alerts, interventions with four-eyes approval,
    reconciliation and the live firm dashboard.
    """

    name = "apps.risk"
    label = "risk"

    def ready(self) -> None:
        from apps.risk.checks import GATE, gate_check, gate_reads
        from apps.trading.registry import register_pre_submit_check

        register_pre_submit_check(GATE, gate_check, reads=gate_reads)

        # The risk managers' Celery tasks live beside their services (tasks.py is the engine's).
        from django.contrib import admin

        from apps.risk import alerts, reconciliation  # noqa: F401
        from apps.risk.dashboard import install_admin_urls

        install_admin_urls(admin.site)
