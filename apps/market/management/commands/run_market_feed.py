"""`manage.py run_market_feed`: publish price frames a few times a second (the `feed` process)."""

from __future__ import annotations

import logging
import random
import signal
import threading
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.market.feed.hyperliquid import MAINNET_URL, HyperliquidSource
from apps.market.feed.loop import CandleWriter, FeedLoop
from apps.market.feed.publisher import FramePublisher, publisher_client
from apps.market.feed.replay import DATA_FILE, ReplayError, ReplaySource
from apps.market.feed.synthetic import SyntheticInstrument, SyntheticSource
from apps.market.selectors import instruments_active

log = logging.getLogger("apps.market.feed")


class Command(BaseCommand):
    help = "Publish market frames on the Redis stream market:frames (and market:frame:latest)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--source", choices=["synthetic", "replay", "hyperliquid"], default="synthetic"
        )
        parser.add_argument(
            "--interval", type=float, default=0.25, help="seconds between frames (0.25)"
        )
        parser.add_argument(
            "--seed", type=int, default=None, help="synthetic: the seed (random when omitted)"
        )
        parser.add_argument(
            "--file", type=Path, default=DATA_FILE, help="replay: a JSON-lines file"
        )
        parser.add_argument("--url", default=MAINNET_URL, help="hyperliquid: the websocket URL")
        parser.add_argument("--max-frames", type=int, default=None, help="stop after N frames")

    def handle(self, *args, **options):
        interval = options["interval"]
        if not 0.01 <= interval <= 60:
            raise CommandError(f"--interval {interval} is outside 0.01..60 seconds")
        if options["max_frames"] is not None and options["max_frames"] < 1:
            raise CommandError("--max-frames must be at least 1")
        instruments = list(instruments_active())
        if not instruments:
            raise CommandError(
                "There are no active instruments: run `manage.py seed_demo` (or load "
                "Hyperliquid's meta with instruments_load) first."
            )
        source = self._source(options, instruments)
        loop = FeedLoop(
            source,
            FramePublisher(publisher_client(settings.REDIS_URL)),
            interval=interval,
            max_frames=options["max_frames"],
            candle_writer=CandleWriter({i.coin: i.pk for i in instruments}),
        )
        # honcho and systemd stop with SIGTERM: finish the frame, flush candles, exit. (Only
        # the main thread may set a handler; a test calling the command elsewhere goes without.)
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, lambda *_: loop.stop()) if main else None
        try:
            published = loop.run()
        except KeyboardInterrupt:
            published = loop.published
        finally:
            if main:
                signal.signal(signal.SIGTERM, previous)
        self.stdout.write(
            f"published {published} frames from the {source.name} source "
            f"(last seq {loop.last_frame.seq if loop.last_frame else '-'})"
        )

    def _source(self, options, instruments):
        name = options["source"]
        if name == "synthetic":
            seed = options["seed"] if options["seed"] is not None else random.randrange(2**32)
            specs = []
            for instrument in instruments:
                if instrument.reference_price is None:
                    log.warning("%s has no starting price; left out of the market", instrument)
                    continue
                specs.append(
                    SyntheticInstrument(
                        instrument.coin, instrument.reference_price, instrument.sz_decimals
                    )
                )
            if not specs:
                raise CommandError(
                    "No instrument has a price to start from: run `manage.py seed_demo`."
                )
            self.stdout.write(
                f"synthetic market of {len(specs)} instruments, seed {seed} "
                f"(--seed {seed} replays this path)"
            )
            return SyntheticSource(specs, seed=seed, interval=options["interval"])
        if name == "replay":
            try:
                source = ReplaySource.from_file(options["file"])
            except ReplayError as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(f"replaying {options['file']} ({len(source)} frames, looping)")
            return source
        coins = [i.coin for i in instruments]
        self.stdout.write(f"subscribing to {len(coins)} coins at {options['url']}")
        return HyperliquidSource(options["url"], coins)
