from django.apps import AppConfig


class PayoutsConfig(AppConfig):
    """Payouts: each funded account's pinned terms and high-water mark (models.py), the
    trader's request and finance's approval, rejection and payment (services.py), the payout
    runs in chunks (runs.py), scaling steps as data (scaling_rules.py, scaling.py), finance's
    exports built by workers (exports.py, reports/), the trader's payouts page (views.py) and
    `selectors.payout_summary(user)` for the dashboard. The arithmetic is pure (calc.py).
    """

    name = "apps.payouts"
    label = "payouts"

    def ready(self):
        from apps.core.demo import register_seeder
        from apps.payouts.demo import seed_payouts

        register_seeder(order=70, name="payouts", run=seed_payouts)
