from django.apps import AppConfig


class ChallengesConfig(AppConfig):
    """Challenges: rule sets and plans as versioned data, the pure evaluation engine
    (rules/, also behind `manage.py replay_scenario`), phases and the evaluation lifecycle.
    The engine is being built (issue 4); the models and lifecycle are not yet.
    """

    name = "apps.challenges"
    label = "challenges"
