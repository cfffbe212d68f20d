"""Evaluations off the frame loop: a few threads calling the rules engine's writer.

`evaluation_sync` (and, on a verdict, the whole lifecycle) takes milliseconds per account and
much more on a breach; the frame loop must not wait for it, or a day reset that flags every
account at once, or a crash that breaches a thousand, would stop the screening of everyone
else. So the loop hands each account over here and carries on; results come back on a queue
that the loop drains between frames.

- One task per account at a time: an account already queued gets the newer marks instead of a
  second task; one being evaluated is evaluated once more afterwards, with the newest marks.
- Breach enforcement goes before any other evaluation.
- Each thread uses its own database connection (Django's are per thread).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import DatabaseError, InterfaceError, OperationalError, connection

from apps.challenges.evaluation import evaluation_sync
from apps.challenges.models_lifecycle import EvaluatedAccount
from apps.challenges.rules import Engine
from apps.risk.enforcement import Breach, breach_enforce
from apps.risk.engine.accounts import RulesCache, engine_restore, positions_of
from apps.trading.models import TradingAccount

log = logging.getLogger(__name__)


@dataclass
class Task:
    account: int  # trading account id
    evaluated: int  # EvaluatedAccount id
    marks: list[dict]
    breach: Breach | None = None
    before: str = ""  # the trading state before a breach's halt
    queued_at: float = field(default_factory=time.perf_counter)


@dataclass
class Outcome:
    task: Task
    account: EvaluatedAccount | None = None
    engine: Engine | None = None  # restored from the new checkpoint, while still active
    state: str = ""
    balance: Decimal | None = None
    positions: dict[str, tuple[Decimal, Decimal]] | None = None
    error: BaseException | None = None
    started_at: float = 0.0
    finished_at: float = 0.0

    @property
    def lost_database(self) -> bool:
        return isinstance(self.error, InterfaceError | OperationalError)


class EvaluationPool:
    def __init__(self, rules: RulesCache, workers: int = 4) -> None:
        self.rules = rules
        self.results: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
        self._cond = threading.Condition()
        self._breaches: deque[int] = deque()
        self._others: deque[int] = deque()
        self._queued: dict[int, Task] = {}
        self._running: set[int] = set()
        self._again: dict[int, Task] = {}
        self._closing = False
        self._threads = [
            threading.Thread(target=self._work, name=f"risk-eval-{i}", daemon=True)
            for i in range(max(1, workers))
        ]
        for thread in self._threads:
            thread.start()

    # --- the loop's side ---------------------------------------------------------------------

    def submit(self, task: Task) -> None:
        with self._cond:
            if task.account in self._running:
                self._again[task.account] = _merge(self._again.get(task.account), task)
                return
            queued = self._queued.get(task.account)
            if queued is not None:
                merged = _merge(queued, task)
                self._queued[task.account] = merged
                if merged.breach is not None and queued.breach is None:
                    self._others.remove(task.account)
                    self._breaches.append(task.account)
                return
            self._queued[task.account] = task
            (self._breaches if task.breach else self._others).append(task.account)
            self._cond.notify()

    def busy(self, account: int) -> bool:
        with self._cond:
            return account in self._queued or account in self._running

    def pending(self) -> int:
        with self._cond:
            return len(self._queued) + len(self._running) + len(self._again)

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queued or self._running or self._again:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
        return True

    def close(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    # --- the threads' side ---------------------------------------------------------------------

    def _take(self) -> Task | None:
        with self._cond:
            while not (self._breaches or self._others):
                if self._closing:
                    return None
                self._cond.wait(0.5)
            account = (self._breaches or self._others).popleft()
            task = self._queued.pop(account)
            self._running.add(account)
            return task

    def _done(self, task: Task) -> None:
        with self._cond:
            self._running.discard(task.account)
            again = self._again.pop(task.account, None)
            if again is not None:
                self._queued[again.account] = again
                (self._breaches if again.breach else self._others).append(again.account)
            self._cond.notify_all()

    def _work(self) -> None:
        try:
            while True:
                task = self._take()
                if task is None:
                    return
                try:
                    self.results.put(self._run(task))
                finally:
                    self._done(task)
        finally:
            connection.close()

    def _run(self, task: Task) -> Outcome:
        started = time.perf_counter()
        try:
            if task.breach is not None:
                account = breach_enforce(breach=task.breach, marks=task.marks, before=task.before)
            else:
                account = evaluation_sync(account_id=task.evaluated, marks=task.marks)
            engine = None
            if account.status == EvaluatedAccount.Status.ACTIVE:
                engine = engine_restore(account, self.rules)
            trading = TradingAccount.objects.values("state", "balance").get(pk=task.account)
            return Outcome(
                task=task,
                account=account,
                engine=engine,
                state=trading["state"],
                balance=trading["balance"],
                positions=positions_of([task.account]).get(task.account, {}),
                started_at=started,
                finished_at=time.perf_counter(),
            )
        except Exception as exc:
            log.exception("evaluation of trading account %s failed", task.account)
            if isinstance(exc, DatabaseError):
                connection.close()  # a broken connection is replaced on the next query
            return Outcome(
                task=task, error=exc, started_at=started, finished_at=time.perf_counter()
            )


def _merge(old: Task | None, new: Task) -> Task:
    """The newest marks; a breach stays a breach (its halt is committed and must be followed)."""
    if old is None:
        return new
    breach = old.breach or new.breach
    before = old.before if old.breach else new.before
    return Task(
        account=new.account,
        evaluated=new.evaluated,
        marks=new.marks,
        breach=breach,
        before=before,
        queued_at=old.queued_at,
    )
