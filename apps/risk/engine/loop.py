"""The live risk engine's loop: one shard's accounts, revalued on every frame.

Each turn of the loop:

1. read `market:frames` (blocking briefly) and, when several frames wait, catch up to the
   newest: marks of every waiting frame are merged, and one revaluation uses the newest;
2. drain the results of finished evaluations (new floors from new checkpoints, verdicts);
3. drain `trading:events`: a fill or ledger entry on a held account marks it for evaluation
   (its positions and balance are reloaded with it); one on an unknown account of the shard
   (a new phase, a new challenge) loads it;
4. on a frame: revalue every account in one vectorised pass and screen it (book.py); feed each
   flagged account's marks to a scratch copy of its rules engine; the accounts that copy FAILS
   are halted together in one transaction, then get their cancels and flattening orders
   together in a second (enforcement.py); then they and every other flagged account go to the
   evaluation threads (pool.py), where `evaluation_sync` writes the rule state and, on a
   verdict, the lifecycle fails, audits and tells;
5. push changed accounts' snapshots (at most two a second each) and, every second, the shard's
   partial firm aggregate.

PostgreSQL is the truth: at start, and after Redis or PostgreSQL comes back from an outage, the
shard is rebuilt from it (accounts, positions, balances, checkpoints), so a missed event or
frame costs nothing but a rebuild.
"""

from __future__ import annotations

import gc
import heapq
import json
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import redis
from django.db import DatabaseError, connection

from apps.challenges.rules import ACTIVE, FAILED, Engine, Mark
from apps.core import clock
from apps.core.redis import get_redis
from apps.market.frames import Frame
from apps.market.selectors import FRAMES_STREAM, frame_latest, frames_read
from apps.risk.enforcement import Breach, Flatten, breaches_flatten, breaches_halt
from apps.risk.engine.accounts import (
    Held,
    RulesCache,
    book_row,
    lags_trading,
    load,
    shard_account_ids,
)
from apps.risk.engine.aggregate import partial_aggregate, partial_store
from apps.risk.engine.book import Book
from apps.risk.engine.pool import EvaluationPool, Outcome, Task
from apps.risk.engine.shard import WHOLE, Shard
from apps.risk.engine.snapshot import account_snapshot, verdict_of
from apps.risk.push import FIRM_GROUP, GroupPusher, account_group
from apps.trading.events import STREAM as EVENTS_STREAM
from apps.trading.models import TradingAccount, TradingState

log = logging.getLogger("apps.risk.engine")

FRAMES_BATCH = 200
EVENTS_BATCH = 1000
# Rule breaches the engine halts first; any other verdict (a pass, an expiry) goes through the
# lifecycle as it is.
BREACH_RULES = ("max_loss", "daily_loss")
# An account above an equity profit target whose other objectives are not met yet would be
# flagged on every frame: it is looked at again only this often.
TARGET_RECHECK_SECONDS = 10.0


@dataclass
class HaltRecord:
    seq: int  # the frame's
    accounts: list[int]
    started_at: float  # perf_counter when the frame was read
    confirmed_at: float  # perf_counter when the scratch engines had confirmed the breaches
    committed_at: float  # perf_counter when HALTED committed
    flattened: list[int]  # accounts whose cancels and flattening orders the batch committed
    flattened_at: float  # perf_counter when they committed


@dataclass
class EngineStats:
    frames: int = 0
    revaluations: int = 0
    revalue_ms: deque = field(default_factory=lambda: deque(maxlen=1000))
    evaluated: set[int] = field(default_factory=set)
    evaluations: int = 0
    halts: list[HaltRecord] = field(default_factory=list)
    enforced: dict[int, float] = field(default_factory=dict)  # account -> perf_counter
    enforce_ms: deque = field(default_factory=lambda: deque(maxlen=100_000))  # each, alone
    snapshots: int = 0
    aggregates: int = 0
    rebuilds: int = 0
    errors: int = 0
    holding: set[int] = field(default_factory=set)  # every account held at some point

    def summary(self, shard: Shard, held: int, *, ids: bool = True) -> dict:
        """What the run did; with `ids`, which accounts (for tests and short diagnostic runs:
        a production shard's lists would be long)."""
        found = {
            "shard": shard.label,
            "frames": self.frames,
            "held": held,
            "holding": sorted(self.holding),
            "evaluations": self.evaluations,
            "evaluated": sorted(self.evaluated),
            "halted": sorted(a for h in self.halts for a in h.accounts),
            "flattened": sorted(a for h in self.halts for a in h.flattened),
            "snapshots": self.snapshots,
            "aggregates": self.aggregates,
            "rebuilds": self.rebuilds,
        }
        if not ids:
            for name in ("holding", "evaluated", "halted", "flattened"):
                found[name] = len(found[name])
        return found


def mark_events(coins: list[str], marks: dict[str, Decimal], t: datetime) -> list[dict]:
    """The frame's marks of these coins as scenario events (evaluation_sync's `marks`)."""
    at = t.isoformat()
    return [
        {"t": at, "type": "mark", "symbol": coin, "price": f"{marks[coin]:f}"}
        for coin in coins
        if coin in marks
    ]


def dry_run(engine: Engine, marks: list[dict], now: datetime) -> tuple[str, int]:
    """Feed a scratch copy of the rules engine what `evaluation_sync` will feed it (the marks,
    then time up to now), the same way; answer its status and how many journal rows the writer
    will add doing so (enforcement.py predicts the lifecycle's keys from it). Nothing is
    written."""
    if engine.status != ACTIVE:
        return engine.status, 0
    rows = 0
    for event in marks:
        at = max(datetime.fromisoformat(event["t"]), engine.t)
        step = engine.apply(Mark(at, event["symbol"], Decimal(event["price"])))
        rows += len(step.marks) + (1 if step.journal else 0)
    rows += len(engine.advance_to(max(now, engine.t)).marks)
    return engine.status, rows


def _last_id(client: redis.Redis, stream: str) -> str:
    last = client.xrevrange(stream, count=1)
    if not last:
        return "0-0"
    entry_id = last[0][0]
    return entry_id.decode() if isinstance(entry_id, bytes) else entry_id


class RiskEngine:
    def __init__(
        self,
        shard: Shard = WHOLE,
        *,
        workers: int = 4,
        push: bool = True,
        snapshot_interval: float = 0.5,
        aggregate_interval: float = 1.0,
        rescan_interval: float = 30.0,
        block_ms: int = 250,
        snapshot_budget: int = 500,
        announce: Callable[[str], None] | None = None,
    ) -> None:
        self.shard = shard
        self.snapshot_interval = snapshot_interval
        self.aggregate_interval = aggregate_interval
        self.rescan_interval = rescan_interval
        self.block_ms = block_ms
        self.snapshot_budget = snapshot_budget
        self.announce = announce or (lambda text: log.info("%s", text))
        self.rules = RulesCache()
        self.pool = EvaluationPool(self.rules, workers)
        self.pusher = GroupPusher() if push else None
        self.book = Book()
        self.held: dict[int, Held] = {}
        self.marks: dict[str, Decimal] = {}
        self.frame: Frame | None = None
        self.frame_id = "$"
        self.events_id = "$"
        self.dirty: set[int] = set()
        self.enforcing: set[int] = set()
        self.finals: dict[int, Held] = {}  # decided accounts whose last snapshot waits
        self.stats = EngineStats()
        self.rebuild_needed = True
        self._aggregated_at = float("-inf")
        self._rescanned_at = time.monotonic()
        self._target_checked: dict[int, float] = {}

    # --- start and rebuild -------------------------------------------------------------------

    def rebuild(self) -> None:
        """Hold the shard as PostgreSQL has it now; read the streams from here on."""
        client = get_redis()
        # Stream positions first: whatever is published while the database is read is
        # handled after (an event for a state already loaded only costs an evaluation).
        self.events_id = _last_id(client, EVENTS_STREAM)
        self.frame_id = _last_id(client, FRAMES_STREAM)
        latest = frame_latest(client)
        if latest is not None:
            self.frame = latest
            self.marks.update({coin: tick.mark for coin, tick in latest.prices.items()})
        held = load(self.shard, self.rules)
        book = Book(sorted(self.marks), capacity=max(256, len(held) * 2))
        book.set_marks(self.marks)
        for account in held.values():
            book.upsert(book_row(account))
            if lags_trading(account):
                self.dirty.add(account.account)
        self.held, self.book = held, book
        self.stats.holding.update(held)
        # What was just loaded lives until the next rebuild: one full collection now, while no
        # frame waits, then frozen out of the collector's later passes. Scanning a shard's
        # accounts (10,000 held: ~0.4 s) used to fall on the first breach's batch after a
        # start and delay its HALTED commit that long (bench/breach.py). Unfrozen again at the
        # next rebuild, so a replaced account's cycles are still collected.
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self.rebuild_needed = False
        self.stats.rebuilds += 1
        self._rescanned_at = time.monotonic()
        self.announce(
            f"risk engine {self.shard.label}: holding {len(held)} accounts; "
            f"waiting for frames on {FRAMES_STREAM}"
        )

    # --- the loop ----------------------------------------------------------------------------

    def run(self, *, max_frames: int = 0, stop: threading.Event | None = None) -> EngineStats:
        stop = stop or threading.Event()
        backoff = 0.5
        try:
            while not stop.is_set() and not (max_frames and self.stats.frames >= max_frames):
                try:
                    if self.rebuild_needed:
                        self.rebuild()
                    self.tick()
                    backoff = 0.5
                except (redis.RedisError, DatabaseError) as exc:
                    self.stats.errors += 1
                    log.warning("%s; rebuilding from PostgreSQL in %.1f s", exc, backoff)
                    if isinstance(exc, DatabaseError):
                        connection.close()
                    self.rebuild_needed = True
                    stop.wait(backoff)
                    backoff = min(backoff * 2, 10.0)
                except Exception:
                    # A bug must not stop the screening of every other account (nor, under
                    # honcho, every other process): start again from PostgreSQL.
                    self.stats.errors += 1
                    log.exception("risk engine turn failed; rebuilding in %.1f s", backoff)
                    self.rebuild_needed = True
                    stop.wait(backoff)
                    backoff = min(backoff * 2, 10.0)
        finally:
            self.finish()
        return self.stats

    def tick(self) -> None:
        frames = self._read_frames()
        self._drain_outcomes()
        self._drain_events()
        if frames:
            self.on_frames(frames)
        if self.dirty:
            self._evaluate_moved()
        self._push_due()
        if time.monotonic() - self._rescanned_at >= self.rescan_interval:
            self._rescan()

    def finish(self, timeout: float = 120.0) -> None:
        """Let running evaluations and enforcements end, then send what is left to send."""
        try:
            self.pool.wait_idle(timeout)
            self._drain_outcomes()
            self._aggregate(force=True)
            if self.pusher is not None:
                # The last snapshots (verdicts among them) still respect the throttle.
                deadline = time.monotonic() + 2 * self.snapshot_interval
                while (self.finals or self._changed()) and time.monotonic() < deadline:
                    self._push_due()
                    time.sleep(0.05)
        except (redis.RedisError, DatabaseError) as exc:
            log.warning("could not finish cleanly: %s", exc)
        finally:
            self.pool.close()
            if self.pusher is not None:
                self.pusher.close()

    def _read_frames(self) -> list[Frame]:
        batch = frames_read(self.frame_id, block_ms=self.block_ms, count=FRAMES_BATCH)
        frames = [frame for _, frame in batch]
        # Never fall behind: while full batches come back, more wait; read on to the newest.
        while len(batch) == FRAMES_BATCH:
            self.frame_id = batch[-1][0]
            batch = frames_read(self.frame_id, count=FRAMES_BATCH)
            frames += [frame for _, frame in batch]
        if batch:
            self.frame_id = batch[-1][0]
        return frames

    # --- a frame -------------------------------------------------------------------------------

    def on_frames(self, frames: list[Frame]) -> None:
        started = time.perf_counter()
        moved: dict[str, Decimal] = {}
        for frame in frames:
            for coin, tick in frame.prices.items():
                moved[coin] = tick.mark
        self.marks.update(moved)
        self.book.set_marks(moved)
        self.frame = frames[-1]
        self.stats.frames += len(frames)
        now = clock.now()
        value = self.book.revalue()
        screen = self.book.screen(value, now)
        self.stats.revaluations += 1
        self.stats.revalue_ms.append((time.perf_counter() - started) * 1000)
        ids = self.book.accounts
        flagged = ids[screen.flagged].tolist()
        others = screen.near_floor | screen.new_peak | screen.moment_due
        only_target = set(ids[screen.target & ~others].tolist())
        if only_target:
            flagged = [a for a in flagged if a not in only_target or self._target_due(a)]
        self._evaluate(flagged, now, started)
        # Equity moved for every account holding a position: their snapshots are due.
        n = len(self.book)
        for account in ids[(self.book.qty[:n] != 0).any(axis=1)].tolist():
            self.held[account].changed = True
        self._aggregate()

    def _target_due(self, account: int) -> bool:
        now = time.monotonic()
        if now - self._target_checked.get(account, float("-inf")) < TARGET_RECHECK_SECONDS:
            return False
        self._target_checked[account] = now
        return True

    def _marks_for(self, held: Held) -> list[dict]:
        if self.frame is None:
            return []
        return mark_events(held.open_coins(), self.marks, self.frame.t)

    def _evaluate(self, accounts: list[int], now: datetime, started: float) -> None:
        breaches: list[Breach] = []
        flattens: dict[int, Flatten] = {}
        marks_of: dict[int, list[dict]] = {}
        tasks: list[Task] = []
        for account in accounts:
            held = self.held.get(account)
            if held is None or account in self.enforcing:
                continue
            marks = marks_of[account] = self._marks_for(held)
            if account in self.dirty:
                continue  # a booked fill the scratch engine cannot see: the writer decides
            engine = held.engine
            status, rows = dry_run(engine, marks, now)
            if status == FAILED and engine.reason in BREACH_RULES:
                breaches.append(Breach(account, held.evaluated, engine.reason))
                flattens[account] = Flatten(
                    account, held.evaluated, held.evaluated_at, held.journal_seq + rows
                )
            else:
                # The scratch engine's new floors (a new peak, a reset) hold until the
                # evaluation's checkpoint replaces them: no re-flagging meanwhile.
                self.book.upsert(book_row(held))
                tasks.append(Task(account, held.evaluated, marks))
        if breaches:
            if self.pusher is None:
                self._enforce(breaches, flattens, marks_of, started)
            else:
                with self.pusher.paused():
                    self._enforce(breaches, flattens, marks_of, started)
        for task in tasks:
            self.pool.submit(task)

    def _enforce(
        self,
        breaches: list[Breach],
        flattens: dict[int, Flatten],
        marks_of: dict[int, list[dict]],
        started: float,
    ) -> None:
        """The frame's breaches as one batch, in order (enforcement.py): HALTED for all, then
        cancels and flattening orders for all, then each account's verdict and lifecycle in the
        evaluation threads."""
        confirmed = time.perf_counter()
        halted = breaches_halt(breaches)
        committed = time.perf_counter()
        before = {h.account: h.before for h in halted}
        # An account with an evaluation queued or running is left to its lifecycle: the rule
        # state its keys would be predicted from is about to change.
        flattened = breaches_flatten(
            [f for a, f in flattens.items() if a in before and not self.pool.busy(a)]
        )
        done = time.perf_counter()
        self.stats.halts.append(
            HaltRecord(
                seq=self.frame.seq if self.frame else 0,
                accounts=sorted(before),
                started_at=started,
                confirmed_at=confirmed,
                committed_at=committed,
                flattened=sorted(flattened),
                flattened_at=done,
            )
        )
        log.warning(
            "shard %s: %d breach(es) confirmed in %.1f ms, halted in %.1f ms, %d flattened in "
            "%.1f ms",
            self.shard.label,
            len(before),
            (confirmed - started) * 1000,
            (committed - started) * 1000,
            len(flattened),
            (done - started) * 1000,
        )
        for breach in breaches:
            held = self.held.get(breach.account)
            if breach.account not in before or held is None:
                continue  # closed meanwhile
            held.state = TradingState.HALTED
            held.changed = True
            self.enforcing.add(breach.account)
            self.pool.submit(
                Task(
                    breach.account,
                    breach.evaluated,
                    marks_of[breach.account],
                    breach=breach,
                    before=before[breach.account],
                )
            )

    def _evaluate_moved(self) -> None:
        """Accounts with a booked fill or ledger entry: evaluated (their new positions and
        balance come back with the result)."""
        accounts, self.dirty = self.dirty, set()
        for account in accounts:
            held = self.held.get(account)
            if held is None or account in self.enforcing:
                continue
            self.pool.submit(Task(account, held.evaluated, self._marks_for(held)))

    # --- results and events --------------------------------------------------------------------

    def _drain_outcomes(self) -> None:
        while True:
            try:
                outcome = self.pool.results.get_nowait()
            except queue.Empty:
                return
            self._apply(outcome)

    def _apply(self, outcome: Outcome) -> None:
        task = outcome.task
        account = task.account
        if task.breach is not None:
            self.stats.enforced[account] = outcome.finished_at
            self.stats.enforce_ms.append((outcome.finished_at - outcome.started_at) * 1000)
            if not self.pool.busy(account):
                self.enforcing.discard(account)
        if outcome.error is not None:
            self.stats.errors += 1
            if outcome.lost_database:
                self.rebuild_needed = True
            return
        self.stats.evaluations += 1
        self.stats.evaluated.add(account)
        held = self.held.get(account)
        if held is None:
            return
        held.state, held.balance = outcome.state, outcome.balance
        held.positions = outcome.positions or {}
        held.changed = True
        evaluated = outcome.account
        if outcome.engine is None:
            # Decided: the account leaves the shard; its last snapshot carries the verdict.
            held.verdict = verdict_of(evaluated.status, evaluated.reason, evaluated.decided_at)
            self.finals[account] = held
            del self.held[account]
            self.book.remove(account)
            self.enforcing.discard(account)
            self._target_checked.pop(account, None)
            return
        held.engine = outcome.engine
        held.evaluated_at, held.journal_seq = evaluated.evaluated_at, evaluated.journal_seq
        self.book.upsert(book_row(held))

    def _drain_events(self) -> None:
        client = get_redis()
        unknown: set[int] = set()
        while True:
            answer = client.xread({EVENTS_STREAM: self.events_id}, count=EVENTS_BATCH)
            entries = answer[0][1] if answer else []
            for entry_id, fields in entries:
                self.events_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                kind = (fields.get(b"kind") or b"").decode()
                if kind not in ("fill", "ledger"):
                    continue
                try:
                    account = int(json.loads(fields.get(b"data") or b"{}")["account"])
                except (KeyError, TypeError, ValueError):
                    continue
                if not self.shard.owns(account):
                    continue
                if account in self.held:
                    self.dirty.add(account)
                elif account not in self.finals:
                    unknown.add(account)
            if len(entries) < EVENTS_BATCH:
                break
        if unknown:
            self._hold(unknown)

    def _hold(self, accounts: set[int]) -> None:
        """Start holding these accounts (new ones of the shard), if they are open."""
        for account, held in load(self.shard, self.rules, accounts).items():
            self.held[account] = held
            self.stats.holding.add(account)
            self.book.upsert(book_row(held))
            if lags_trading(held):
                self.dirty.add(account)

    def _rescan(self) -> None:
        """Catch what no event said: accounts opened or closed, trading states changed."""
        self._rescanned_at = time.monotonic()
        wanted = shard_account_ids(self.shard)
        for account in set(self.held) - wanted:
            if not self.pool.busy(account):
                self.held.pop(account, None)
                self.book.remove(account)
        new = wanted - set(self.held) - set(self.finals)
        if new:
            self._hold(new)
        states = TradingAccount.objects.filter(pk__in=list(self.held)).values_list("pk", "state")
        for account, state in states:
            held = self.held[account]
            if held.state != state:
                held.state, held.changed = state, True

    # --- pushes ----------------------------------------------------------------------------------

    def _changed(self) -> bool:
        return any(h.changed for h in self.held.values())

    def _push_due(self) -> None:
        if self.pusher is None:
            return
        now = time.monotonic()
        t = self.frame.t if self.frame is not None else clock.now()
        due = [
            h
            for h in (*self.finals.values(), *self.held.values())
            if h.changed and now - h.pushed_at >= self.snapshot_interval
        ]
        if len(due) > self.snapshot_budget:
            # Exact snapshots cost ~50 µs each: past the budget the longest-waiting go first
            # and the others next turn (a large shard's snapshots come less often, while the
            # frame loop keeps its pace).
            finals = self.finals
            due = heapq.nsmallest(
                self.snapshot_budget, due, key=lambda h: (h.account not in finals, h.pushed_at)
            )
        for held in due:
            snapshot = account_snapshot(held, self.marks, t)
            self.pusher.send(account_group(held.account), snapshot)
            held.pushed_at, held.changed = now, False
            self.finals.pop(held.account, None)
            self.stats.snapshots += 1

    def _aggregate(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._aggregated_at < self.aggregate_interval:
            return
        self._aggregated_at = now
        partial = partial_aggregate(
            self.book,
            self.book.revalue(),
            shard=self.shard.label,
            shards=self.shard.count,
            t=(self.frame.t if self.frame is not None else clock.now()).isoformat(),
            seq=self.frame.seq if self.frame is not None else 0,
        )
        partial_store(partial)
        if self.pusher is not None:
            self.pusher.send(FIRM_GROUP, partial)
        self.stats.aggregates += 1
