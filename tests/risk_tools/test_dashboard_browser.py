"""The live firm dashboard in Chromium: a risk manager signed in with two factors sees the
numbers and alerts pushed through the channel layer replace the page's own, without a reload."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from apps.risk.push import ALERTS_GROUP, FIRM_GROUP
from apps.risk.push import push_message as _push
from tests.risk_tools.test_pages import signed_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def push_message(group: str, message: dict) -> None:
    """As the risk engine sends: from a thread with no event loop (Playwright runs one here)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(_push, group, message).result()


def test_the_dashboard_receives_a_live_firm_update_and_an_alert(page, live_server_url, client):
    client, _ = signed_in(client)
    page.context.add_cookies(
        [
            {"name": name, "value": morsel.value, "url": live_server_url}
            for name, morsel in client.cookies.items()
        ]
    )
    page.goto(live_server_url + "/admin/risk/dashboard/")
    page.wait_for_selector('#risk-dashboard[data-live="connected"]')

    push_message(
        FIRM_GROUP,
        {
            "type": "risk.firm",
            "shard": "0/1",
            "shards": 1,
            "t": "2026-01-02T03:04:05+00:00",
            "accounts": 42,
            "equity": "1234567.89",
            "day_pnl": "-2500.00",
            "instruments": {
                "BTC": {
                    "mark": "60000",
                    "real": {"long": "120000", "short": "0", "net": "120000.00", "accounts": 2},
                    "simulated": {"long": "0", "short": "30000", "net": "-30000.00"},
                }
            },
            "closest": [
                {"account": 7, "headroom_pct": "0.41", "headroom": "410.00", "equity": "1"}
            ],
        },
    )
    page.wait_for_function("document.getElementById('firm-equity').textContent === '1234567.89'")
    assert page.text_content("#firm-day-pnl") == "-2500.00"
    row = page.locator('#exposure tr[data-coin="BTC"]')
    assert row.locator(".real-dir").text_content() == "long"
    assert row.locator(".sim-dir").text_content() == "short"
    assert "#7: headroom 410.00" in page.text_content("#closest")

    push_message(
        ALERTS_GROUP,
        {
            "type": "risk.alert",
            "alert": {
                "id": 99,
                "kind": "crowding",
                "kind_label": "Traders on one side",
                "coin": "BTC",
                "direction": "long",
                "simulated": True,
                "message": "6 traders are long BTC",
                "raised_at": "2026-01-02T03:04:05+00:00",
            },
        },
    )
    page.wait_for_selector('#alerts li[data-alert="99"]')
    assert "(simulated) 6 traders are long BTC" in page.text_content("#alerts li:first-child")
