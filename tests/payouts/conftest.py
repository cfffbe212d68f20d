import pytest


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # These tests make many people and never sign them in by password: skip the slow hash.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
