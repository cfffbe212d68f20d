"""An export requested in the admin is built by a real Celery worker process, against the
real database, and its file is kept in the row."""

from __future__ import annotations

import time

import pytest

from apps.accounts import roles
from apps.payouts.exports import export_request
from apps.payouts.models import Export
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]


def test_a_real_worker_builds_the_export_and_records_its_progress(celery_worker):
    finance = UserFactory(is_staff=True, role=roles.FINANCE)
    export = export_request(
        kind="register_xlsx",
        params={"date_from": "2026-01-01", "date_to": "2026-12-31"},
        actor=finance,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        export.refresh_from_db()
        if export.status in ("done", "failed"):
            break
        time.sleep(0.2)
    assert (export.status, export.progress, export.error) == ("done", 100, ""), (
        celery_worker.output()
    )
    assert bytes(export.content).startswith(b"PK")  # an XLSX is a zip
    assert export.filename == "payout-register-2026-01-01-to-2026-12-31.xlsx"
    assert Export.objects.count() == 1
