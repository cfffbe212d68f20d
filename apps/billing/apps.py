from django.apps import AppConfig


class BillingConfig(AppConfig):
    """Billing: the plan catalogue's checkout, payment providers behind one interface
    (providers/: sandbox, stripe), discount codes with capped uses, receipts, and refunds and
    chargebacks that void the challenge they paid for.
    """

    name = "apps.billing"
    label = "billing"

    def ready(self):
        from apps.billing.demo import seed_discount_codes
        from apps.core.demo import register_seeder

        register_seeder(order=60, name="discount codes", run=seed_discount_codes)
