"""`manage.py build_replay_file`: rebuild apps/market/data/replay_candles.jsonl from the
recorded Hyperliquid candles in ../shared (the shipped file is this command's output)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.market.feed.replay import DATA_FILE, build_replay_lines
from apps.market.recorded import RecordedDataMissing, recorded_candles, recorded_cassette_mids

SCALED_COINS = ("BTC", "ETH", "SOL")


class Command(BaseCommand):
    help = "Build the replay data file from the recorded candleSnapshot cassette."

    def add_arguments(self, parser):
        parser.add_argument("--out", type=Path, default=DATA_FILE)

    def handle(self, *args, **options):
        try:
            candles = recorded_candles()
            mids = recorded_cassette_mids()
        except RecordedDataMissing as exc:
            raise CommandError(str(exc)) from None
        lines = build_replay_lines(candles, {coin: mids[coin] for coin in SCALED_COINS})
        options["out"].write_text("\n".join(lines) + "\n")
        self.stdout.write(f"wrote {len(lines)} lines to {options['out']}")
