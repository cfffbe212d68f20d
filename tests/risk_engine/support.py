"""Building blocks for the risk engine's tests: challenge accounts that hold positions through
the real order entry and paper venue, the engine as a process, frames as the feed publishes
them."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from decimal import Decimal

from apps.challenges.lifecycle import challenge_start
from apps.challenges.models_lifecycle import EvaluatedAccount
from apps.core import clock
from apps.core.redis import get_redis
from apps.market.feed.publisher import FramePublisher
from apps.market.frames import Frame, Tick
from apps.trading.outbox import outbox_dispatch
from apps.trading.registry import OrderIntent
from apps.trading.services import order_submit
from tests.challenges.lifecycle_support import make_plan
from tests.conftest import ROOT
from tests.factories import UserFactory
from tests.trading.market import load_instruments, set_prices

START = {"BTC": "60000", "ETH": "3000", "SOL": "150"}
_seq = [10_000]


def market() -> None:
    load_instruments()
    set_prices(**START)


def open_accounts(count: int, *, code: str = "risk") -> list[EvaluatedAccount]:
    """`count` phase-1 accounts of $100,000 (daily floor 95,000, max-loss floor 90,000)."""
    plan = make_plan(code=code)
    accounts = []
    for i in range(count):
        challenge = challenge_start(
            trader=UserFactory(),
            plan=plan,
            purchase_ref=f"{code}-{i}",
            price_paid=Decimal("100"),
        )
        accounts.append(challenge.accounts.get())
    return accounts


def trade(account: EvaluatedAccount, side: str, size: str, coin: str = "BTC", **kw):
    """An order through order entry; market orders are sent and filled at once."""
    order = order_submit(
        account=account.trading_account,
        intent=OrderIntent(
            coin=coin, side=side, size=Decimal(size), kind=kw.pop("kind", "market"), **kw
        ),
        origin="trader_web",
        idempotency_key=f"{account.pk}-{coin}-{side}-{size}-{kw.get('limit_price')}",
    )
    outbox_dispatch()
    order.refresh_from_db()
    return order


def frame(**marks: str) -> Frame:
    _seq[0] += 1
    prices = {**START, **marks}
    return Frame(
        seq=_seq[0],
        t=clock.now(),
        prices={c: Tick(Decimal(p), Decimal(p), Decimal(p), Decimal(0)) for c, p in prices.items()},
        source="test",
    )


def publish(**marks: str) -> Frame:
    f = frame(**marks)
    FramePublisher(get_redis()).publish(f)
    return f


class EngineProcess:
    """`manage.py run_risk_engine` as a process; its last stdout line is its summary."""

    def __init__(self, env: dict, *args: str):
        self.popen = subprocess.Popen(
            [sys.executable, "manage.py", "run_risk_engine", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._errors: list[str] = []
        threading.Thread(target=self._read_errors, daemon=True).start()

    def _read(self) -> None:
        for line in self.popen.stdout:
            self.lines.append(line.rstrip("\n"))
            if "waiting for frames" in line:
                self._ready.set()

    def _read_errors(self) -> None:
        for line in self.popen.stderr:
            self._errors.append(line.rstrip("\n"))

    def ready(self, timeout: float = 30.0) -> EngineProcess:
        if not self._ready.wait(timeout):
            self.kill()
            raise AssertionError(f"the engine did not start:\n{self.output()}")
        return self

    def output(self) -> str:
        return "\n".join(self.lines + self._errors[-40:])

    def wait(self, timeout: float = 60.0) -> dict:
        try:
            code = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"the engine did not stop:\n{self.output()}") from None
        self._reader.join(5)
        assert code == 0, self.output()
        return json.loads(self.lines[-1])

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()


def wait_until(check, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} not reached within {timeout} s")
