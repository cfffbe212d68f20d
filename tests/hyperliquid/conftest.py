"""Fixtures of the Hyperliquid venue's tests: the local fake venue, a master account whose agent
key lives in the environment, the recorded market, and a guard that no test reaches a real
host (api.hyperliquid.xyz above all)."""

from __future__ import annotations

import hashlib
import socket
from decimal import Decimal

import pytest

from tests.hyperliquid.fake import FakeHyperliquid

AGENT_KEY = "0x" + hashlib.sha256(b"propfirm hyperliquid test agent").hexdigest()
MASTER = "0x" + "5a" * 20
LOCAL = {"127.0.0.1", "localhost", "::1", b"127.0.0.1", b"localhost"}


@pytest.fixture(autouse=True)
def network_guard(monkeypatch):
    """Every name lookup of a non-local host fails and is remembered; the test fails if any
    happened (a test that provokes one on purpose empties the list)."""
    real = socket.getaddrinfo
    tried: list = []

    def guarded(host, *args, **kwargs):
        if host is not None and host not in LOCAL:
            tried.append(host.decode() if isinstance(host, bytes) else host)
            raise OSError(f"the tests reach no network ({host})")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    yield tried
    assert tried == [], f"a test tried to reach {tried}"


@pytest.fixture(autouse=True)
def _venue_settings(settings):
    from apps.trading.venues.hyperliquid.client import clear_meta_cache

    settings.HYPERLIQUID_TIMEOUT = "0.5"
    settings.HYPERLIQUID_BUDGET_WAIT = "0.2"
    clear_meta_cache()
    yield
    clear_meta_cache()


@pytest.fixture(autouse=True)
def enqueued(monkeypatch) -> list[int]:
    """Provisioning tasks are recorded, not sent to a broker: the tests run the steps."""
    from apps.trading.tasks_hyperliquid import provisioning_advance_task

    sent: list[int] = []
    monkeypatch.setattr(provisioning_advance_task, "delay", lambda pk: sent.append(pk))
    return sent


@pytest.fixture
def fake():
    venue = FakeHyperliquid(stall_seconds=1.5)
    yield venue
    venue.close()
    assert venue.problems == [], venue.problems


@pytest.fixture
def master(fake, monkeypatch, db):
    from eth_account import Account

    from apps.trading.models_hyperliquid import HyperliquidMaster, HyperliquidNetwork

    monkeypatch.setenv("HL_TEST_AGENT_KEY", AGENT_KEY)
    network = HyperliquidNetwork.objects.create(name="fake", base_url=fake.url)
    row = HyperliquidMaster.objects.create(
        label="Master A", address=MASTER, network=network, agent_key_env="HL_TEST_AGENT_KEY"
    )
    fake.add_master(MASTER, Account.from_key(AGENT_KEY).address, Decimal("1000000"))
    return row
