"""The venue in the admin: a master shows the agent address derived from its key (never the
key), and a failed provisioning can be retried."""

from __future__ import annotations

import pytest
from eth_account import Account

from apps.trading.models_hyperliquid import HyperliquidMaster, Provisioning
from tests.hyperliquid.conftest import AGENT_KEY
from tests.hyperliquid.helpers import open_account, provision

pytestmark = pytest.mark.django_db


def test_the_master_page_shows_the_agent_address_and_never_the_key(admin_client_mfa, master):
    client, _ = admin_client_mfa
    page = client.get(f"/admin/trading/hyperliquidmaster/{master.pk}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    assert Account.from_key(AGENT_KEY).address in text
    assert AGENT_KEY[2:] not in text and "HL_TEST_AGENT_KEY" in text
    listing = client.get("/admin/trading/hyperliquidmaster/").content.decode()
    assert Account.from_key(AGENT_KEY).address in listing


def test_a_master_must_name_one_place_for_its_key(admin_client_mfa, fake):
    client, _ = admin_client_mfa
    answer = client.post(
        "/admin/trading/hyperliquidmaster/add/",
        {
            "label": "B",
            "address": "0x" + "7C" * 20,
            "agent_key_env": "A",
            "agent_key_file": "/run/secrets/b",
            "max_sub_accounts": "10",
            "active": "on",
        },
    )
    assert answer.status_code == 200 and "exactly one place" in answer.content.decode()
    assert not HyperliquidMaster.objects.filter(label="B").exists()
    client.post(
        "/admin/trading/hyperliquidmaster/add/",
        {"label": "B", "address": "0x" + "7C" * 20, "agent_key_env": "A", "max_sub_accounts": "10"},
    )
    assert HyperliquidMaster.objects.get(label="B").address == "0x" + "7c" * 20


def test_a_failed_provisioning_is_retried_from_the_admin(admin_client_mfa, fake, master):
    client, _ = admin_client_mfa
    account = open_account()
    fake.fail_next("createSubAccount", "refuse:Too many sub-accounts.")
    failed = provision(account)
    assert failed.status == "failed"
    client.post(
        "/admin/trading/provisioning/",
        {"action": "retry", "_selected_action": [failed.pk]},
    )
    assert Provisioning.objects.get(pk=failed.pk).status == "requested"
    assert provision(account).status == "ready"
