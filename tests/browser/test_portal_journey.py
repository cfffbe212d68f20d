"""A candidate's whole journey in Chromium against the real daphne and a real Celery worker:
sign up, buy a 2-step challenge with a discount code in the sandbox, trade it live, get halted
by a breach; and, in a second test, pass phase 1 across the minimum trading days.

Prices are frames published from the test with the feed's own FramePublisher. Orders go out
through the outbox on the worker (the paper venue fills them there) and the fills come back to
the page as snapshots over its websocket. The live risk engine runs as a process when the
project has one (`manage.py run_risk_engine`); without it the test does the engine's part
itself: it evaluates the account and pushes the portal's snapshot through the channel layer.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from playwright.sync_api import expect

from apps.billing.models import Purchase
from apps.challenges.evaluation import evaluation_sync
from apps.challenges.models_lifecycle import EvaluatedAccount
from apps.core import clock
from apps.market.feed.publisher import FramePublisher, publisher_client
from apps.market.frames import Frame, Tick
from apps.portal.services import snapshot_send
from apps.trading.models import TradingAccount
from tests.billing.support import a_code
from tests.challenges.lifecycle_support import make_plan
from tests.conftest import ARTIFACTS, BIN, ROOT, Process, _wait_for
from tests.factories import PASSWORD, UserFactory
from tests.trading.market import load_instruments

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = ARTIFACTS / "screenshots"
PASSWORD_NEW = "amber-Falcon-4821"


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"portal-{name}.png"), full_page=True)


class Feed:
    """Publishes frames as `run_market_feed` does (the stream and the latest value)."""

    def __init__(self) -> None:
        self.publisher = FramePublisher(publisher_client(settings.REDIS_URL))
        self.seq = self.publisher.last_seq()

    def __call__(self, **marks: str) -> None:
        self.seq += 1
        prices = {c: Tick(Decimal(p), Decimal(p), Decimal(p), Decimal(0)) for c, p in marks.items()}
        self.publisher.publish(Frame(seq=self.seq, t=clock.now(), prices=prices, source="test"))


@pytest.fixture
def feed() -> Feed:
    load_instruments()
    publish = Feed()
    publish(BTC="60000", ETH="3000")
    return publish


@pytest.fixture
def risk_engine(service_env, tmp_path):
    """The live risk engine as a process, where the project has one; else None."""
    command = ROOT / "apps" / "risk" / "management" / "commands" / "run_risk_engine.py"
    if not command.exists():
        yield None
        return
    process = Process(
        "risk engine",
        [str(BIN / "python"), "manage.py", "run_risk_engine", "--workers", "1"],
        service_env,
        tmp_path / "risk-engine.log",
    )
    try:
        _wait_for(lambda: "waiting for frames" in process.output(), "risk engine", process)
        yield process
    finally:
        process.stop()


def until_swept(check, attempts: int = 8) -> None:
    """Wait for `check`, doing meanwhile what beat's outbox sweep does every 5 s in `make run`
    (no beat runs here): an order whose on-commit send found its row locked is sent then."""
    from apps.trading.tasks import outbox_dispatch_task

    for attempt in range(attempts):
        try:
            check()
            return
        except AssertionError:
            if attempt == attempts - 1:
                raise
            outbox_dispatch_task.delay()


def sign_up(page, live_server_url: str, mailbox, email: str) -> None:
    page.goto(live_server_url + "/accounts/signup/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password:", exact=True).fill(PASSWORD_NEW)
    page.get_by_label("Password (again):").fill(PASSWORD_NEW)
    page.get_by_role("button", name="Sign Up").click()
    page.get_by_text("We have sent an email to you for verification").wait_for()
    message = mailbox.wait_for(email)
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", message.get_content()).group(0)
    page.goto(link)
    page.get_by_role("button", name="Confirm").click()
    sign_in(page, live_server_url, email, PASSWORD_NEW)


def sign_in(page, live_server_url: str, email: str, password: str) -> None:
    page.goto(live_server_url + "/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign In").click()
    page.locator(".hero").get_by_text(f"Signed in as {email}").wait_for()


def buy(page, live_server_url: str, plan, *, code: str = "", expect_amount: str) -> None:
    page.goto(live_server_url + "/plans/")
    card = page.locator(f"#plan-{plan.code}")
    expect(card).to_contain_text("Profit target: 5% of the starting balance")
    page.get_by_role("link", name=f"Buy {plan.name}").click()
    page.get_by_label("Country of residence").select_option("DE")
    if code:
        page.get_by_label("Discount code").fill(code)
        page.get_by_role("button", name="Apply").click()
        expect(page.locator("#amount-due")).to_contain_text(expect_amount)
        shot(page, "checkout")
    page.get_by_role("button", name="Continue to payment").click()
    expect(page.get_by_text("TEST MODE")).to_be_visible()
    if code:
        shot(page, "sandbox")
    page.get_by_role("button", name=re.compile(r"^Pay .*succeeds")).click()
    expect(page.locator(".messages")).to_contain_text("Payment received")


def open_trading_page(page) -> int:
    page.get_by_role("link", name="Trade this account").first.click()
    expect(page.locator("#live-status")).to_have_text("Live")
    return int(page.locator("#trade").get_attribute("data-account"))


def place(page, *, side: str = "Buy / long", size: str) -> None:
    page.get_by_label(side).check()
    page.get_by_label("Order type").select_option("market")
    page.get_by_label("Size", exact=True).fill(size)
    page.get_by_role("button", name="Place order").click()
    expect(page.locator("#ticket-result")).to_contain_text("Order accepted")


def test_a_candidate_buys_a_challenge_trades_it_live_and_is_halted_by_a_breach(
    page, live_server_url, mailbox, celery_worker, feed, risk_engine
):
    plan = make_plan("web-2step")
    a_code("SPRING20", value=Decimal("20"))

    sign_up(page, live_server_url, mailbox, "trader.one@example.com")
    buy(page, live_server_url, plan, code="spring20", expect_amount="80.00 USD")

    # The dashboard of the new challenge: phase 1 with its objectives.
    purchase = Purchase.objects.get(buyer__email="trader.one@example.com")
    assert (purchase.status, purchase.amount) == ("paid", Decimal("80.00"))
    card = page.locator(".account").first
    expect(card).to_contain_text("Phase 1")
    for objective in ("Profit target", "Daily loss headroom", "Max loss headroom", "Days left"):
        expect(card).to_contain_text(objective)
    expect(card.locator("time.countdown")).to_have_text(re.compile(r"\d+h \d\dm \d\ds"))
    shot(page, "dashboard-phase-1")

    account_id = open_trading_page(page)
    expect(page.locator("#mark")).to_have_text("60,000")
    place(page, size="1")
    positions = page.locator("#positions-body")
    expect(positions).to_contain_text("BTC")
    expect(positions).to_contain_text("(long)")
    expect(page.locator("#fills-body")).to_contain_text("buy")

    # Prices tick: the P&L follows, pushed over the socket.
    feed(BTC="60600", ETH="3000")
    expect(page.locator("#unrealized")).to_have_text(re.compile(r"^\+5\d\d\.\d\d$"))
    expect(page.locator("#mark")).to_have_text("60,600")
    feed(BTC="59400", ETH="3000")
    expect(page.locator("#unrealized")).to_have_text(re.compile(r"^−6\d\d\.\d\d$"))
    shot(page, "trading-live")

    # A crash through the daily floor (95,000): halted at once, told why, the ticket disabled.
    feed(BTC="54000", ETH="3000")
    if risk_engine is None:
        # What the risk engine does on this frame: evaluate, then push the snapshot.
        evaluated = EvaluatedAccount.objects.get(trading_account_id=account_id)
        evaluation_sync(account_id=evaluated.pk)
        snapshot_send(account_id)
    banner = page.locator("#state-banner")
    expect(banner).to_be_visible(timeout=20000)
    expect(banner).to_contain_text("Trading halted")
    expect(page.get_by_role("button", name="Place order")).to_be_disabled()
    breach = page.locator("#breach-panel .breach")
    expect(breach).to_contain_text("the daily loss limit", timeout=20000)
    expect(breach.locator("#replay-hash")).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    expect(banner).to_contain_text("Breached the daily loss limit")
    # The firm's flatten closes the position (through the worker and the paper venue).
    until_swept(lambda: expect(positions).to_contain_text("No open position.", timeout=2500))
    account = TradingAccount.objects.get(pk=account_id)
    assert account.state == "halted"
    shot(page, "halted")


def test_a_trader_passes_phase_1_across_the_minimum_trading_days_and_sees_phase_2(
    page, live_server_url, celery_worker, feed
):
    plan = make_plan("web-pass", min_days=2)
    trader = UserFactory(email="trader.two@example.com")
    sign_in(page, live_server_url, trader.email, PASSWORD)
    buy(page, live_server_url, plan, expect_amount="100.00 USD")
    open_trading_page(page)

    # Day 1: a long from 60,000 closed at 65,600 meets the 5% target, but one day of two.
    place(page, size="1")
    expect(page.locator("#positions-body")).to_contain_text("(long)")
    feed(BTC="65600", ETH="3000")
    expect(page.locator("#unrealized")).to_have_text(re.compile(r"^\+5,\d{3}\.\d\d$"))
    page.get_by_role("button", name="Close BTC position").click()
    expect(page.locator("#ticket-result")).to_contain_text("Closing BTC")
    expect(page.locator("#positions-body")).to_contain_text("No open position.")
    expect(page.locator("#target")).to_contain_text("/ 5,000.00")
    assert EvaluatedAccount.objects.get(trader=trader).status == "active"

    # Day 2 (the shared clock moves every process): its first fill makes the second trading
    # day, the phase passes, and the lifecycle closes what is open.
    clock.advance(timedelta(days=1))
    feed(BTC="65600", ETH="3000")
    place(page, size="0.001")
    expect(page.locator("#state-banner")).to_contain_text("Phase passed", timeout=20000)
    expect(page.get_by_role("button", name="Place order")).to_be_disabled()
    shot(page, "phase-1-passed")

    page.get_by_role("link", name="Dashboard").click()
    phase2 = page.locator(".account", has_text="Phase 2")
    expect(phase2).to_contain_text("Active")
    expect(page.locator(".history")).to_contain_text("Phase 1 — Passed")
    assert EvaluatedAccount.objects.filter(trader=trader, phase=2, status="active").exists()
    shot(page, "dashboard-phase-2")

    # On a phone: nothing wider than the screen, the ticket reachable.
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/dashboard/", "/plans/", "/trade/"):
        page.goto(live_server_url + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow}px wider than a phone"
    expect(page.locator("#live-status")).to_have_text("Live")
    expect(page.get_by_role("button", name="Place order")).to_be_visible()
    shot(page, "trade-phone")
