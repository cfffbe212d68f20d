from django.apps import AppConfig


class PayoutsConfig(AppConfig):
    """Payouts: profit splits above a high-water mark, payout runs and approvals, scaling
    funded accounts on milestones, and finance's reports. Not built yet (issue 9).
    """

    name = "apps.payouts"
    label = "payouts"
