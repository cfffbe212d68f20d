from django.apps import AppConfig


class ChallengesConfig(AppConfig):
    """Challenges: rule sets and plans as versioned data (draft -> published -> retired,
    immutable once published, down to a database trigger), their admin, and the demo
    catalogue; the pure evaluation engine (rules/, also behind `manage.py replay_scenario`);
    challenges and their evaluated accounts, whose rule state the engine alone writes
    (evaluation.py), and the lifecycle from purchase to funded or failed (lifecycle.py).
    """

    name = "apps.challenges"
    label = "challenges"

    def ready(self):
        from apps.challenges.catalogue import seed
        from apps.challenges.demo import seed_challenges
        from apps.challenges.receivers import on_account_activity
        from apps.core.demo import register_seeder
        from apps.trading.signals import account_activity

        register_seeder(order=40, name="catalogue", run=seed)
        register_seeder(order=45, name="challenges", run=seed_challenges)
        account_activity.connect(on_account_activity, dispatch_uid="challenges.evaluate")
