"""Publishing frames on Redis: XADD on the stream and SET of the latest, atomically."""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from apps.market.frames import Frame
from apps.market.selectors import FRAMES_MAXLEN, FRAMES_STREAM, LATEST_KEY


def publisher_client(url: str) -> redis.Redis:
    """A client for the feed that never retries by itself.

    redis-py retries a failed command on a fresh connection; for a MULTI/EXEC whose EXEC was
    sent before the connection broke, that retry would add the frame twice. The feed loop
    retries instead, after asking Redis whether the frame landed.
    """
    return redis.Redis.from_url(
        url, socket_connect_timeout=2, socket_timeout=2, retry=Retry(NoBackoff(), 0)
    )


class FramePublisher:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def last_seq(self) -> int:
        """The highest sequence number published so far (0 for none), so a restarted feed
        continues the numbering its consumers follow."""
        seqs = [0]
        latest = self.client.get(LATEST_KEY)
        if latest:
            seqs.append(Frame.from_json(latest).seq)
        last = self.client.xrevrange(FRAMES_STREAM, count=1)
        if last:
            fields = last[0][1]
            seqs.append(Frame.from_json(fields.get(b"frame") or fields["frame"]).seq)
        return max(seqs)

    def landed(self, frame: Frame) -> bool:
        """Whether `frame` is already published (the stream and the key change together)."""
        latest = self.client.get(LATEST_KEY)
        return bool(latest) and Frame.from_json(latest).seq >= frame.seq

    def publish(self, frame: Frame) -> str:
        payload = frame.to_json()
        with self.client.pipeline(transaction=True) as pipe:
            # approximate=True trims whole radix-tree nodes only: MAXLEN ~ is far cheaper.
            pipe.xadd(FRAMES_STREAM, {"frame": payload}, maxlen=FRAMES_MAXLEN, approximate=True)
            pipe.set(LATEST_KEY, payload)
            entry_id, _ = pipe.execute()
        return entry_id.decode() if isinstance(entry_id, bytes) else entry_id
