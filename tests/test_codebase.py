"""The house rules that a tool can check: ruff, the one direction of dependency, migrations."""

import subprocess
import sys

from tests.conftest import BIN, ROOT, shared_path


def test_ruff_finds_nothing():
    result = subprocess.run(
        [str(BIN / "ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


def test_apps_depend_only_on_apps_to_their_left():
    checker = shared_path("tools", "check_layers.py")
    result = subprocess.run(
        [sys.executable, str(checker), str(ROOT)], capture_output=True, text=True
    )
    assert result.stdout.strip().endswith("0 layering problem(s)"), result.stdout


def test_models_and_migrations_are_in_step():
    result = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
