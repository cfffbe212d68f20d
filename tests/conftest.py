"""Shared fixtures: real PostgreSQL (pytest-django), real Redis (database 9, flushed per test),
real daphne and Celery processes against the test database, and real Chromium."""

from __future__ import annotations

import email
import email.policy
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import redis as redis_lib
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
BIN = Path(sys.executable).parent
ARTIFACTS = ROOT / "test-results"


def shared_path(*parts: str) -> Path:
    """A path in ../shared, skipping the test (saying why) where that folder is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"{path} is absent: ../shared is only beside the project on the team's machines"
        )
    return path


@pytest.fixture(autouse=True)
def _fresh_redis():
    """Each test starts with an empty Redis test database: no cached brand, no rate-limit
    counters, the shared clock at machine time."""
    client = redis_lib.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield
    client.flushdb()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _test_database_url() -> str:
    db = connection.settings_dict
    auth = quote(db["USER"] or "postgres")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"])
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture(scope="session")
def maildir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("mail")


@pytest.fixture(scope="session")
def service_env(django_db_setup, maildir) -> dict[str, str]:
    """The environment of a process started by a test: the test database, the test Redis,
    e-mail written to files this process can read."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        DATABASE_URL=_test_database_url(),
        REDIS_URL=settings.REDIS_URL,
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        CELERY_RESULT_BACKEND=settings.CELERY_RESULT_BACKEND,
        EMAIL_URL=f"filemail://{maildir}",
        STATIC_MANIFEST="false",
        WHITENOISE_USE_FINDERS="true",
        PYTHONUNBUFFERED="1",
    )
    return env


class Process:
    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path):
        self.name, self.log = name, log
        self._log_file = log.open("wb")
        self.popen = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        self._log_file.close()


def _wait_for(check, what: str, process: Process, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise RuntimeError(f"{process.name} exited while starting:\n{process.output()}")
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up in {timeout} s:\n{process.output()}")


@pytest.fixture(scope="session")
def live_server_url(service_env, tmp_path_factory) -> str:
    """A real daphne (HTTP and websockets) serving the project on the test database."""
    import urllib.request

    port = _free_port()
    log = tmp_path_factory.mktemp("daphne") / "daphne.log"
    process = Process(
        "daphne",
        [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "propfirm.asgi:application"],
        service_env,
        log,
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
            return response.status == 200

    try:
        _wait_for(up, "daphne", process)
        yield url
    finally:
        process.stop()


@pytest.fixture(scope="module")
def celery_worker(service_env, tmp_path_factory):
    """A real Celery worker process on the test database and the test Redis.

    Per module: a worker left running would pick up other tests' on-commit tasks and hold
    locks while their tables are flushed."""
    from propfirm.celery import app

    log = tmp_path_factory.mktemp("celery") / "worker.log"
    name = f"test-{os.getpid()}@%h"
    process = Process(
        "celery worker",
        [
            str(BIN / "celery"),
            "-A",
            "propfirm",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "-n",
            name,
        ],
        service_env,
        log,
    )
    try:
        _wait_for(lambda: bool(app.control.ping(timeout=0.5)), "celery worker", process, 45)
        yield process
    finally:
        process.stop()


class Mailbox:
    """E-mails the server processes wrote with Django's file backend."""

    def __init__(self, folder: Path):
        self.folder = folder

    def messages_to(self, address: str) -> list[email.message.EmailMessage]:
        found = []
        for path in sorted(self.folder.glob("*.log"), key=lambda p: p.stat().st_mtime):
            for chunk in path.read_bytes().split(b"\n" + b"-" * 79 + b"\n"):
                if not chunk.strip():
                    continue
                message = email.message_from_bytes(chunk.strip(), policy=email.policy.default)
                if address.lower() in (message["To"] or "").lower():
                    found.append(message)
        return found

    def wait_for(self, address: str, timeout: float = 10.0) -> email.message.EmailMessage:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            messages = self.messages_to(address)
            if messages:
                return messages[-1]
            time.sleep(0.2)
        raise AssertionError(f"no e-mail to {address} within {timeout} s")


@pytest.fixture
def mailbox(maildir) -> Mailbox:
    return Mailbox(maildir)


# --- Chromium through Playwright -------------------------------------------------------------

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: `make test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread while it is open (so it is
    # closed after each module); the ORM calls tests make between page steps are plain
    # synchronous calls, so Django's async guard is lifted meanwhile.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    shots = ARTIFACTS / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    try:
        page.screenshot(path=str(shots / f"{request.node.name}.png"), full_page=True)
    finally:
        context.close()


@pytest.fixture
def admin_client_mfa(client):
    """A firm admin signed in through allauth with a TOTP code, as the admin requires."""
    from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, hotp_value

    from apps.accounts import roles
    from tests.factories import PASSWORD, UserFactory

    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    user = UserFactory(is_staff=True, is_superuser=True, role=roles.FIRM_ADMIN)
    TOTP.activate(user, secret)
    client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    code = format_hotp_value(hotp_value(secret, int(time.time()) // 30))
    response = client.post("/accounts/2fa/authenticate/", {"code": code})
    assert response.status_code == 302, "the two-factor step did not pass"
    return client, user


@pytest.fixture
def round_trips():
    """`with round_trips() as sent:` the simple-protocol queries this thread's database
    connection sends to the server meanwhile, one per round trip (libpq's own trace, so a
    BEGIN or COMMIT psycopg sends by itself counts too)."""
    import contextlib
    import re
    import tempfile

    from psycopg import pq

    @contextlib.contextmanager
    def tracing():
        connection.ensure_connection()
        raw = connection.connection.pgconn
        sent: list[str] = []
        with tempfile.TemporaryFile() as trace:
            raw.trace(trace.fileno())
            raw.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
            try:
                yield sent
            finally:
                raw.untrace()
                trace.seek(0)
                text = trace.read().decode()
        sent += re.findall(r'^F\t\d+\tQuery\t "(.*)"$', text, flags=re.MULTILINE)

    return tracing
