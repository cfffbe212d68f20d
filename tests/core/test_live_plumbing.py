"""The live and background plumbing, end to end through real processes: daphne serving
websockets on the Redis channel layer, and a Celery worker on Redis."""

import json

import pytest
from django.conf import settings
from django.test import Client
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from apps.core.push import push_to_group, user_group
from apps.core.services import audit_record
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _socket(live_server_url: str, user=None):
    headers = {"Origin": live_server_url}
    if user is not None:
        client = Client()
        client.force_login(user)
        headers["Cookie"] = (
            f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
        )
    return connect(
        live_server_url.replace("http", "ws") + "/ws/events/",
        additional_headers=headers,
        open_timeout=10,
    )


def test_an_event_for_one_user_reaches_their_socket_and_no_one_elses(live_server_url):
    ann, bob = UserFactory(), UserFactory()
    with _socket(live_server_url, ann) as ann_ws, _socket(live_server_url, bob) as bob_ws:
        assert json.loads(ann_ws.recv(timeout=5)) == {"type": "hello", "user": ann.pk}
        assert json.loads(bob_ws.recv(timeout=5)) == {"type": "hello", "user": bob.pk}
        push_to_group(user_group(ann.pk), {"type": "notice", "text": "for Ann"})
        assert json.loads(ann_ws.recv(timeout=5)) == {"type": "notice", "text": "for Ann"}
        with pytest.raises(TimeoutError):
            bob_ws.recv(timeout=1.5)


def test_an_anonymous_socket_is_refused(live_server_url):
    with _socket(live_server_url) as ws, pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=5)
    assert closed.value.rcvd.code == 4401


def test_a_socket_from_a_foreign_origin_is_refused(live_server_url):
    user = UserFactory()
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    with pytest.raises(Exception, match="403"):
        connect(
            live_server_url.replace("http", "ws") + "/ws/events/",
            open_timeout=10,
            additional_headers={"Origin": "http://evil.example", "Cookie": f"sessionid={cookie}"},
        )


def test_a_real_celery_worker_runs_a_task_against_the_database(celery_worker):
    from apps.core.tasks import audit_verify_chains_task

    audit_record(action="a", subject=("account", 1))
    audit_record(action="b", subject=("account", 1))
    result = audit_verify_chains_task.delay().get(timeout=30)
    assert result == {"checked": 2, "problems": []}


def test_the_beat_schedule_is_declared_in_code_and_tasks_ack_late():
    from propfirm.celery import app

    schedule = app.conf.beat_schedule
    assert schedule["audit-verify-chains-nightly"]["task"] in app.tasks
    assert app.conf.task_acks_late is True
    assert app.conf.task_time_limit and app.conf.task_soft_time_limit < app.conf.task_time_limit
