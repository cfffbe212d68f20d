from django.apps import AppConfig


class BillingConfig(AppConfig):
    """Billing: the plan catalogue's checkout, payment providers (sandbox, stripe), discount
    codes, receipts, refunds and chargebacks. Not built yet (issue 8).
    """

    name = "apps.billing"
    label = "billing"
