import os
import secrets
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=full_env, capture_output=True, text=True
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DEBUG", "maybe"),
        ("DATABASE_URL", "mysql://db.example.com/propfirm"),
        ("REDIS_URL", "not a url"),
        ("DB_POOL_SIZE", "forever"),
        ("HTTP_THREADS", "0"),
        ("PROPFIRM_ENV", "staging"),
        ("EMAIL_URL", "pigeon://coop"),
    ],
)
def test_a_malformed_variable_stops_start_up_naming_it(variable, value):
    result = _manage("check", **{variable: value})
    assert result.returncode == 1
    assert result.stderr.startswith(f"configuration error: {variable}=")
    assert "Traceback" not in result.stderr


def test_production_refuses_to_start_without_a_secret_key():
    result = _manage("check", PROPFIRM_ENV="production", CLOCK_SHARED="false", SECRET_KEY="")
    assert result.returncode == 1 and "SECRET_KEY" in result.stderr


def test_production_settings_pass_the_deploy_check_with_no_warning():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        PROPFIRM_ENV="production",
        CLOCK_SHARED="false",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="trade.example.com",
        DEBUG="false",
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_the_movable_clock():
    result = _manage(
        "check",
        PROPFIRM_ENV="production",
        CLOCK_SHARED="true",
        SECRET_KEY=secrets.token_urlsafe(64),
    )
    assert result.returncode == 1 and "CLOCK_SHARED" in result.stderr


def test_ensure_services_names_the_unreachable_service_and_how_to_start_it():
    result = _manage("ensure_services", REDIS_URL="redis://127.0.0.1:1/0")
    assert result.returncode == 1
    assert "Redis is not reachable at 127.0.0.1:1 (REDIS_URL)" in result.stderr
    assert "redis-server" in result.stderr
    result = _manage("ensure_services", DATABASE_URL="postgres://postgres@127.0.0.1:1/propfirm")
    assert result.returncode == 1
    assert "PostgreSQL is not reachable at 127.0.0.1:1 (DATABASE_URL)" in result.stderr
