import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db


def test_healthz_reports_every_service_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {name for name, check in body["checks"].items() if check["ok"]} == {
        "database",
        "redis",
        "broker",
    }


@override_settings(REDIS_URL="redis://127.0.0.1:1/0")
def test_healthz_is_503_naming_redis_when_redis_is_down(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["redis"]["ok"] is False and "1" in checks["redis"]["error"]
    assert checks["database"]["ok"] is True


@override_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0")
def test_healthz_is_503_naming_the_broker_when_it_is_down(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False
    assert response.json()["checks"]["redis"]["ok"] is True
