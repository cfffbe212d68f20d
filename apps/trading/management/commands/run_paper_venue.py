from __future__ import annotations

import logging
import signal
import time

import redis
from django.core.management.base import BaseCommand

from apps.core.redis import get_redis
from apps.market.selectors import FRAMES_STREAM, frames_read
from apps.trading.models import TradingAccount
from apps.trading.tasks import account_sync_task
from apps.trading.venues.paper.venue import paper_frame
from apps.trading.venues.registry import venue_named

log = logging.getLogger("paper_venue")


class Command(BaseCommand):
    help = (
        "The paper venue: match resting and triggered orders, pay hourly funding and liquidate "
        "on every price frame of the feed, on the venue's own books; tell our side (a Celery "
        "task per account) when fills or funding happened."
    )

    def add_arguments(self, parser):
        parser.add_argument("--max-frames", type=int, default=0, help="stop after N frames")

    def handle(self, *args, max_frames: int, **options):
        venue = venue_named("paper")
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        # Start after the newest frame already there, resolved now: "$" would only be read at
        # the first XREAD and miss what is published before it.
        newest = get_redis().xrevrange(FRAMES_STREAM, count=1)
        last_id = newest[0][0].decode() if newest else "0-0"
        handled, backoff = 0, 0.5
        self.stdout.write("paper venue: waiting for frames on market:frames")
        self.stdout.flush()
        while not stopping and (not max_frames or handled < max_frames):
            try:
                batch = frames_read(last_id, block_ms=1000, count=50)
                backoff = 0.5
            except redis.RedisError as exc:
                log.warning("redis unavailable (%s); retrying in %.1f s", exc, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 10)
                continue
            if not batch:
                continue
            changed: set[str] = set()
            # Every frame in order: a price that crossed a limit and came back still fills it.
            for _entry_id, frame in batch:
                changed.update(venue.on_frame(paper_frame(frame)))
                handled += 1
            last_id = batch[-1][0]
            accounts = TradingAccount.objects.filter(venue_ref__in=changed)
            for account_id in accounts.values_list("pk", flat=True):
                account_sync_task.delay(account_id)
