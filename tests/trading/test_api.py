import json
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from apps.accounts.services import api_key_create, api_key_revoke
from apps.core import clock
from apps.core.models import IdempotencyRecord
from apps.trading.models import Order, OutboxMessage
from apps.trading.services import account_open
from tests.conftest import ROOT
from tests.factories import UserFactory
from tests.trading.market import load_instruments, set_prices

pytestmark = pytest.mark.django_db


@pytest.fixture
def trader(django_capture_on_commit_callbacks):
    load_instruments()
    set_prices(BTC="60000", ETH="3000")
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        account = account_open(owner=user, starting_balance=Decimal("50000"), key="api")
    _, raw = api_key_create(user=user, name="bot")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client, user, account, raw


ORDER = {"coin": "BTC", "side": "buy", "type": "limit", "size": "0.01", "price": "59000"}


def post(client, body, key="k1", **extra):
    return client.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY=key, **extra)


def test_a_trader_places_lists_and_cancels_an_order(trader):
    client, _, account, _ = trader
    created = post(client, {**ORDER, "account": account.pk})
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["coin"], body["size"], body["price"], body["status"]) == (
        "BTC",
        "0.0100000000",
        "59000.0000000000",
        "pending",
    )
    listed = client.get(f"/api/v1/orders/?account={account.pk}").json()
    assert [o["id"] for o in listed] == [body["id"]]
    cancelled = client.delete(f"/api/v1/orders/{body['id']}/", HTTP_IDEMPOTENCY_KEY="c1")
    assert cancelled.status_code == 202
    assert OutboxMessage.objects.filter(action="cancel").count() == 1


def test_a_repeated_idempotency_key_replays_the_first_answer(trader):
    client, _, account, _ = trader
    first = post(client, {**ORDER, "account": account.pk}, key="same")
    second = post(client, {**ORDER, "account": account.pk}, key="same")
    assert second.status_code == 201 and second["Idempotent-Replayed"] == "true"
    assert first.json() == second.json() and Order.objects.count() == 1


def test_an_unexpected_failure_is_a_json_500_that_changes_nothing_and_a_retry_goes_ahead(
    trader, monkeypatch
):
    import logging

    from django.db import OperationalError

    from apps.trading import services

    client, _, account, _ = trader
    client.raise_request_exception = False
    insert = services._order_insert

    def lost(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(services, "_order_insert", lost)
    logged = []
    handler = logging.Handler()
    handler.emit = logged.append
    logging.getLogger("django.request").addHandler(handler)
    try:
        failed = post(client, {**ORDER, "account": account.pk}, key="once")
    finally:
        logging.getLogger("django.request").removeHandler(handler)
    assert failed.status_code == 500
    error = failed.json()["error"]
    assert error["code"] == "server_error" and "same Idempotency-Key" in error["message"]
    assert not Order.objects.exists() and not OutboxMessage.objects.exists()
    assert not IdempotencyRecord.objects.exists()
    assert [r.exc_info[0] for r in logged] == [OperationalError]  # logged with its traceback

    monkeypatch.setattr(services, "_order_insert", insert)
    again = post(client, {**ORDER, "account": account.pk}, key="once")
    assert again.status_code == 201 and "Idempotent-Replayed" not in again
    assert Order.objects.count() == 1


def test_a_request_django_refuses_is_still_its_400_not_a_500(trader):
    client, _, account, _ = trader
    client.raise_request_exception = False
    too_many = "&".join(f"p{n}=1" for n in range(1200))  # DATA_UPLOAD_MAX_NUMBER_FIELDS: 1000
    response = client.get(f"/api/v1/orders/?account={account.pk}&{too_many}")
    assert response.status_code == 400


def test_an_unexpected_failure_still_reaches_the_test_client(trader, monkeypatch):
    from apps.trading import services

    client, _, account, _ = trader

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(services, "_order_insert", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        post(client, {**ORDER, "account": account.pk}, key="bug")


def test_the_same_key_with_a_different_body_is_422(trader):
    client, _, account, _ = trader
    post(client, {**ORDER, "account": account.pk}, key="same")
    response = post(client, {**ORDER, "account": account.pk, "size": "0.02"}, key="same")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert Order.objects.count() == 1


def test_a_write_without_an_idempotency_key_is_refused(trader):
    client, _, account, _ = trader
    response = client.post("/api/v1/orders/", {**ORDER, "account": account.pk}, format="json")
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]["message"]
    assert not Order.objects.exists()


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"coin": "NOPE"}, "coin", "Unknown instrument"),
        ({"price": "59000.5"}, "price", "tick grid"),
        ({"size": "0.000001"}, "size", "lot grid"),
        ({"size": "0.0001"}, "size", "minimum value of $10"),
        ({"size": "-1"}, "size", "positive"),
        ({"size": "0"}, "size", "positive"),
        ({"side": "long"}, "side", "not a valid choice"),
        ({"size": "abc"}, "size", "valid number"),
    ],
)
def test_bad_orders_get_a_4xx_naming_the_problem_and_write_nothing(trader, change, field, words):
    client, _, account, _ = trader
    response = post(client, {**ORDER, "account": account.pk, **change})
    assert response.status_code == 400
    error = response.json()["error"]
    assert field in error["fields"] and words in " ".join(error["fields"][field])
    assert not Order.objects.exists() and not OutboxMessage.objects.exists()


def test_a_malformed_json_body_is_a_400(trader):
    client, _, account, _ = trader
    response = client.generic(
        "POST",
        "/api/v1/orders/",
        '{"coin": "BTC",',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="bad",
    )
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["error"]["message"]


def test_someone_elses_order_cannot_be_cancelled(trader):
    client, _, account, _ = trader
    order_id = post(client, {**ORDER, "account": account.pk}).json()["id"]
    other = UserFactory()
    _, raw = api_key_create(user=other, name="x")
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = stranger.delete(f"/api/v1/orders/{order_id}/", HTTP_IDEMPOTENCY_KEY="steal")
    assert response.status_code == 404
    assert not OutboxMessage.objects.filter(action="cancel").exists()


def test_an_order_on_someone_elses_account_is_refused(trader):
    client, _, account, _ = trader
    other_account = account_open(owner=UserFactory(), starting_balance=Decimal("1000"), key="o")
    response = post(client, {**ORDER, "account": other_account.pk})
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["account"] == [
        f"You have no account {other_account.pk}."
    ]
    # Nothing written: no order, and the key (claimed in the same round trip as the account
    # was read) is free again for the trader's own account.
    assert not Order.objects.exists()
    assert not IdempotencyRecord.objects.exists()
    mine = post(client, {**ORDER, "account": account.pk})
    assert mine.status_code == 201 and mine.json()["account"] == account.pk


def test_a_revoked_key_is_refused(trader):
    client, user, _, raw = trader
    from apps.accounts.models import ApiKey

    api_key_revoke(key=ApiKey.objects.get(user=user), actor=user)
    response = client.get("/api/v1/accounts/")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "This API key was revoked."


def test_an_expired_key_is_refused(trader):
    _, user, _, _ = trader
    _, raw = api_key_create(user=user, name="short", expires_at=clock.now() + timedelta(hours=1))
    clock.advance(timedelta(hours=2))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/accounts/").json()["error"]["message"] == "This API key has expired."


def test_a_read_only_key_cannot_place_orders(trader):
    _, user, account, _ = trader
    _, raw = api_key_create(user=user, name="reader", scope="read_only")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/positions/").status_code == 200
    response = post(client, {**ORDER, "account": account.pk})
    assert response.status_code == 403 and "read-only" in response.json()["error"]["message"]


def test_reads_show_accounts_instruments_and_the_ledger(trader):
    client, _, account, _ = trader
    accounts = client.get("/api/v1/accounts/").json()
    assert accounts[0]["balance"] == "50000.0000000000" and accounts[0]["equity"]
    coins = [i["coin"] for i in client.get("/api/v1/instruments/").json()]
    assert coins == ["BTC", "ETH", "SOL"]
    ledger = client.get(f"/api/v1/ledger/?account={account.pk}").json()
    assert ledger[0]["kind"] == "starting_capital"
    bad = client.get("/api/v1/candles/?coin=BTC&interval=7m")
    assert bad.status_code == 400 and "interval" in bad.json()["error"]["fields"]


def test_the_openapi_schema_documents_the_promised_paths(client):
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = json.loads(schema.content)["paths"]
    for path in ("accounts", "positions", "orders", "fills", "ledger", "instruments", "candles"):
        assert f"/api/v1/{path}/" in paths
    assert client.get("/api/docs/").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_create_api_key_prints_the_key_once_on_its_last_line(service_env):
    UserFactory(email="bot@example.com")
    result = subprocess.run(
        [sys.executable, "manage.py", "create_api_key", "bot@example.com"],
        cwd=ROOT,
        env=service_env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    raw = result.stdout.strip().splitlines()[-1]
    assert raw.startswith("pf_") and len(raw) > 40
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/accounts/").status_code == 200


def test_the_rate_limit_slides_the_last_windows_requests_out_and_says_when_to_retry(
    trader, monkeypatch
):
    from apps.accounts.api_auth import ApiKeyRateThrottle

    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "3/min"})
    now = {"t": 600.0}  # the start of a window
    monkeypatch.setattr(ApiKeyRateThrottle, "timer", lambda self: now["t"])
    client = trader[0]

    def get():
        return client.get("/api/v1/positions/")

    assert [get().status_code for _ in range(4)] == [200, 200, 200, 429]  # 4 counted
    now["t"] = 660.0 + 45  # next window, a quarter of the last one still in view: 4 * 0.25 = 1
    assert [get().status_code for _ in range(2)] == [200, 200]  # 1 + 1, 1 + 2
    refused = get()  # 1 + 3 = 4 > 3
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 15  # once the last window's quarter slid out
    now["t"] = 720.0 + 59  # two windows on: only the last one's 3 (of 4 counted) * 1/60
    assert get().status_code == 200


def test_requests_are_rate_limited_per_key(trader, monkeypatch):
    from apps.accounts.api_auth import ApiKeyRateThrottle

    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "3/min"})
    client, user, _, _ = trader
    codes = [client.get("/api/v1/positions/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    _, other_raw = api_key_create(user=user, name="second key")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {other_raw}")
    assert other.get("/api/v1/positions/").status_code == 200  # counted per key


@pytest.mark.django_db(transaction=True)
def test_an_order_takes_four_round_trips_the_last_storing_the_answer_and_committing(
    trader, round_trips
):
    client, _, account, _ = trader
    assert post(client, {**ORDER, "account": account.pk}, key="warm").status_code == 201
    # The key and its user; BEGIN, the claim and the account; the lock batch; then the order,
    # its outbox row, its audit event, the stored answer and the COMMIT together.
    with round_trips() as sent:
        created = post(client, {**ORDER, "account": account.pk}, key="counted")
    assert created.status_code == 201, created.json()
    assert len(sent) == 4, sent
    assert sent[1].startswith("BEGIN; EXECUTE ") and sent[-1].count("EXECUTE ") == 4
    assert sent[-1].endswith("; COMMIT")
    record = IdempotencyRecord.objects.get(key="counted")
    assert record.status_code == 201 and record.response["id"] == created.json()["id"]
    assert OutboxMessage.objects.filter(order_id=created.json()["id"]).count() == 1
    replayed = post(client, {**ORDER, "account": account.pk}, key="counted")
    assert replayed["Idempotent-Replayed"] == "true" and replayed.json() == created.json()
