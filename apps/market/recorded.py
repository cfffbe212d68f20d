"""Reading the recorded Hyperliquid answers in ../shared/fixtures/hyperliquid at run time.

The recordings stay where they are (never copied into the project): the demo seeder and the
replay-file builder read them here, and fall back or stop with a clear message where
../shared is absent.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import yaml
from django.conf import settings

# The cassettes' meta answers are the 2023-07-17 universe (28 coins); the sample is a newer,
# trimmed one (BTC, ETH, ATOM with today's leverage caps). Loaded oldest first, so newer win.
META_SAMPLE = "samples/http_meta_perp_sample.json"
MIDS_CASSETTE = "cassettes/test_get_all_mids.yaml"  # 2023-07-17, every coin of that universe
MIDS_SAMPLE = "samples/ws_allmids.json"  # newer: BTC, ETH, SOL (and spot pairs)
CANDLES_CASSETTE = "cassettes/test_get_candles_snapshot.yaml"


class RecordedDataMissing(FileNotFoundError):
    pass


def fixtures_dir() -> Path:
    return Path(settings.BASE_DIR).parent / "shared" / "fixtures" / "hyperliquid"


def _path(relative: str) -> Path:
    path = fixtures_dir() / relative
    if not path.exists():
        raise RecordedDataMissing(
            f"{path} is absent: ../shared is only beside the project on the team's machines"
        )
    return path


def _answers(path: Path, request_type: str) -> list[object]:
    data = yaml.safe_load(path.read_text())
    answers = []
    for interaction in data["interactions"]:
        request = json.loads(interaction["request"]["body"])
        if request.get("type") == request_type:
            answers.append(json.loads(interaction["response"]["body"]["string"]))
    return answers


def cassette_answers(relative: str, request_type: str) -> list[object]:
    """The response payloads of a cassette's interactions whose request has this `type`."""
    return _answers(_path(relative), request_type)


def sample(relative: str) -> object:
    return json.loads(_path(relative).read_text())


def recorded_metas() -> list[tuple[str, object]]:
    """(where, payload) of every distinct recorded meta answer, cassettes (2023) first, then
    the newer sample. Four cassettes record the same meta call before the call they test."""
    found: list[tuple[str, object]] = []
    for path in sorted(_path("cassettes").glob("*.yaml")):
        for payload in _answers(path, "meta"):
            if all(payload != seen for _, seen in found):
                found.append((f"cassettes/{path.name}", payload))
    found.append((META_SAMPLE, sample(META_SAMPLE)))
    return found


def recorded_cassette_mids() -> dict[str, Decimal]:
    """Mids of the recorded allMids call (2023-07-17): every coin of that universe."""
    return {k: Decimal(v) for k, v in cassette_answers(MIDS_CASSETTE, "allMids")[0].items()}


def recorded_all_mids() -> dict[str, Decimal]:
    """Recorded mids per coin; the newer websocket sample's values win where both have one."""
    mids = recorded_cassette_mids()
    newer = sample(MIDS_SAMPLE)["data"]["mids"]
    mids.update({k: Decimal(v) for k, v in newer.items()})
    return mids


def recorded_candles() -> list[dict]:
    return cassette_answers(CANDLES_CASSETTE, "candleSnapshot")[0]
