"""`manage.py replay_scenario PATH`: a scenario file's verdict, as ../shared/spec says.

A thin entry point over the pure `apps.challenges.rules`: prints the result JSON and exits
0 whatever the verdict; an unreadable or invalid file exits 2 with one line on stderr that
starts with the offending field's path (or the file's path), and nothing on stdout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

from django.core.management.base import BaseCommand

from apps.challenges.rules import ScenarioError, parse_scenario, replay

INVALID = 2


class Command(BaseCommand):
    help = "Replay a scenario file (or - for stdin) and print its result as JSON."
    # Reading a file needs neither the database nor the system checks.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("path", help="scenario JSON file, or - to read stdin")

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["path"]
        try:
            text = _read(path)
            result = replay(parse_scenario(text))
        except ScenarioError as exc:
            _refuse(str(exc))
        except _Unreadable as exc:
            _refuse(str(exc))
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        sys.stdout.flush()


class _Unreadable(Exception):
    pass


def _read(path: str) -> str:
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except FileNotFoundError:
        raise _Unreadable(f"{path}: no such file") from None
    except OSError as exc:
        raise _Unreadable(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        # utf-8-sig: a byte-order mark some editors write is not a reason to refuse.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ScenarioError("$", f"{path} is not UTF-8 text") from None


def _refuse(line: str) -> NoReturn:
    # Written directly: the command's styled stderr would colour the line on a terminal.
    sys.stderr.write(" ".join(line.split()) + "\n")
    sys.stderr.flush()
    sys.exit(INVALID)
