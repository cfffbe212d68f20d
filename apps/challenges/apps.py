from django.apps import AppConfig


class ChallengesConfig(AppConfig):
    """Challenges: rule sets and plans as versioned data (draft -> published -> retired,
    immutable once published, down to a database trigger), their admin, and the demo
    catalogue; the pure evaluation engine (rules/, also behind `manage.py replay_scenario`).
    Phases of a sold challenge and the evaluation lifecycle come later.
    """

    name = "apps.challenges"
    label = "challenges"

    def ready(self):
        from apps.challenges.catalogue import seed
        from apps.core.demo import register_seeder

        register_seeder(order=40, name="catalogue", run=seed)
