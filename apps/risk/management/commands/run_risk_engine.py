from __future__ import annotations

import json
import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from apps.risk.engine.loop import RiskEngine
from apps.risk.engine.shard import Shard, ShardError


class Command(BaseCommand):
    help = (
        "The live risk engine: hold every open account of the shard in memory, revalue them on "
        "each price frame, have the rules engine evaluate those near a floor or whose state "
        "moved, halt and enforce breaches as one batch, and push snapshots and the shard's "
        "part of the firm aggregate."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--shard",
            default="0/1",
            help="i/n: hold the accounts whose trading account id %% n == i (default 0/1: all)",
        )
        parser.add_argument("--max-frames", type=int, default=0, help="stop after N frames")
        parser.add_argument("--workers", type=int, default=4, help="evaluation threads (default 4)")

    def handle(self, *args, shard: str, max_frames: int, workers: int, **options):
        try:
            which = Shard.parse(shard)
        except ShardError as exc:
            raise CommandError(str(exc)) from None
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())

        def announce(text: str) -> None:
            self.stdout.write(text)
            self.stdout.flush()

        engine = RiskEngine(which, workers=workers, announce=announce)
        stats = engine.run(max_frames=max_frames, stop=stop)
        # Last, one JSON line: what this shard did (account ids only for a bounded run).
        summary = stats.summary(which, len(engine.held), ids=bool(max_frames))
        announce(json.dumps(summary, separators=(",", ":")))
