"""The REST API's one-hop HTTP path (apps/core/asgi_http.py) through a real daphne: many
requests at once each get their answer and give their connection back; bad input still gets
the API's errors; everything outside /api/v1/ is still served by Django's ASGI handler."""

import http.client
import json
import threading
from decimal import Decimal
from urllib.parse import urlparse

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from django.conf import settings

from apps.accounts.services import api_key_create
from apps.core.asgi_http import ApiRouter
from apps.trading.models import Order
from apps.trading.services import account_open
from tests.factories import UserFactory
from tests.trading.market import load_instruments, set_prices

pytestmark = pytest.mark.django_db(transaction=True)


def _request(base: str, method: str, path: str, body=None, headers=None):
    url = urlparse(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=20)
    try:
        conn.request(method, path, body, headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


@pytest.fixture
def api_trader():
    load_instruments()
    set_prices(BTC="60000", ETH="3000")
    user = UserFactory()
    account = account_open(owner=user, starting_balance=Decimal("50000"), key="one-hop")
    _, raw = api_key_create(user=user, name="bot")
    return account, {"Authorization": f"Bearer {raw}", "Content-Type": "application/json"}


def test_more_orders_at_once_than_threads_and_pooled_connections_all_land(
    live_server_url, api_trader
):
    account, headers = api_trader
    many = 3 * max(settings.HTTP_THREADS, settings.DB_POOL_SIZE)
    results: list[int] = []

    def place(n: int) -> None:
        body = json.dumps(
            {
                "account": account.pk,
                "coin": "BTC",
                "side": "buy",
                "type": "limit",
                "size": "0.001",
                "price": str(59000 + n),
            }
        )
        keyed = {**headers, "Idempotency-Key": f"k{n}"}
        status, _, _ = _request(live_server_url, "POST", "/api/v1/orders/", body, keyed)
        results.append(status)

    threads = [threading.Thread(target=place, args=(n,)) for n in range(many)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [201] * many
    assert Order.objects.filter(account=account).count() == many
    # And the server is still answering: no request's connection was kept from the pool.
    status, _, body = _request(live_server_url, "GET", "/api/v1/orders/", headers=headers)
    assert status == 200 and len(json.loads(body)) == many


def test_a_repeat_replays_and_a_malformed_body_gets_the_api_error(live_server_url, api_trader):
    account, headers = api_trader
    body = json.dumps(
        {
            "account": account.pk,
            "coin": "BTC",
            "side": "sell",
            "type": "limit",
            "size": "0.001",
            "price": "61000",
        }
    )
    first = _request(
        live_server_url, "POST", "/api/v1/orders/", body, {**headers, "Idempotency-Key": "same"}
    )
    again = _request(
        live_server_url, "POST", "/api/v1/orders/", body, {**headers, "Idempotency-Key": "same"}
    )
    assert first[0] == again[0] == 201
    assert json.loads(first[2]) == json.loads(again[2])
    assert again[1].get("Idempotent-Replayed") == "true"
    keyed = {**headers, "Idempotency-Key": "x"}
    status, _, error = _request(live_server_url, "POST", "/api/v1/orders/", b"{not json", keyed)
    assert status == 400
    assert json.loads(error)["error"]["code"] == "parse_error"
    assert Order.objects.filter(account=account).count() == 1


def test_pages_and_the_schema_are_still_served(live_server_url):
    status, response_headers, _ = _request(live_server_url, "GET", "/plans/")
    assert status == 200 and response_headers["Content-Type"].startswith("text/html")
    status, _, _ = _request(live_server_url, "GET", "/api/schema/")
    assert status == 200


def test_the_router_sends_only_the_api_prefix_to_the_api_handler():
    seen = []

    def app(name):
        async def serve(scope, receive, send):
            seen.append((name, scope["path"]))
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        return serve

    router = ApiRouter(api=app("api"), default=app("django"))

    async def ask(path: str) -> None:
        communicator = ApplicationCommunicator(
            router, {"type": "http", "path": path, "method": "GET", "headers": []}
        )
        await communicator.send_input({"type": "http.request", "body": b""})
        await communicator.receive_output()
        await communicator.receive_output()

    for path in ("/api/v1/orders/", "/api/schema/", "/plans/", "/api/v1"):
        async_to_sync(ask)(path)
    assert seen == [
        ("api", "/api/v1/orders/"),
        ("django", "/api/schema/"),
        ("django", "/plans/"),
        ("django", "/api/v1"),
    ]


def test_daphne_leaves_post_bodies_to_django_and_forms_still_arrive(live_server_url, service_env):
    import re
    import subprocess
    import sys

    from tests.conftest import ROOT

    # What daphne loads (the ASGI entry point) points daphne at the request that passes
    # Twisted's switch; in a process of its own, as daphne's.
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import propfirm.asgi; from daphne import http_protocol; "
            "print(http_protocol.WebRequest._form_parsing_skipped)",
        ],
        cwd=ROOT,
        env=service_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert loaded.stdout.strip().splitlines()[-1] == "True", loaded.stderr
    # Through the real daphne: a form's fields reach Django whole, Twisted having parsed none.
    status, headers, page = _request(live_server_url, "GET", "/accounts/login/")
    assert status == 200
    cookie = headers["Set-Cookie"].split(";")[0]
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()
    body = f"csrfmiddlewaretoken={token}&login=nobody%40example.com&password=wrong-one"
    status, _, page = _request(
        live_server_url,
        "POST",
        "/accounts/login/",
        body,
        {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
    )
    assert status == 200  # the form again, with its error: the fields were read
    assert b'value="nobody@example.com"' in page


def test_each_request_gets_one_access_line_daphnes_and_none_from_twisted(service_env, tmp_path):
    import time
    import urllib.request

    from tests.conftest import BIN, Process, _free_port, _wait_for

    # At verbosity 2 daphne sends Twisted's log into Python's logging, so a second line written
    # by Twisted's HTTP factory would show up in the process's output beside daphne's own.
    port = _free_port()
    access = tmp_path / "access.log"
    process = Process(
        "daphne",
        [
            str(BIN / "daphne"),
            "-v",
            "2",
            "--access-log",
            str(access),
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "propfirm.asgi:application",
        ],
        service_env,
        tmp_path / "daphne.log",
    )

    def up() -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
            return answer.status == 200

    try:
        _wait_for(up, "daphne", process)
        status, _, _ = _request(f"http://127.0.0.1:{port}", "GET", "/healthz?probe=once")
        assert status == 200
        deadline = time.monotonic() + 10
        while "probe=once" not in access.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        process.stop()
    lines = [line for line in access.read_text().splitlines() if "probe=once" in line]
    assert len(lines) == 1 and '"GET /healthz?probe=once"' in lines[0], lines
    output = process.log.read_text(errors="replace")  # whole, not the tail
    assert "probe=once" not in output, output[-4000:]
