import subprocess
import sys
import threading
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.utils import DatabaseError

from apps.core.audit import GENESIS
from apps.core.models import AuditEvent
from apps.core.services import audit_record, audit_verify_chains
from tests.conftest import ROOT
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_events_of_one_subject_form_a_chain():
    actor = UserFactory()
    first = audit_record(
        action="limit.change",
        subject=("account", 7),
        actor=actor,
        before={"max": Decimal("10.5")},
        after={"max": Decimal("5")},
    )
    second = audit_record(action="account.halt", subject=("account", 7))
    assert (first.seq, first.prev_hash) == (1, GENESIS)
    assert (second.seq, second.prev_hash) == (2, first.hash)
    assert first.before == {"max": "10.5"} and second.actor_label == "system"
    assert audit_verify_chains() == (2, [])


def test_each_subject_has_its_own_chain():
    audit_record(action="a", subject=("account", 1))
    other = audit_record(action="a", subject=("account", 2))
    assert other.seq == 1 and other.prev_hash == GENESIS


def test_the_database_refuses_to_change_or_delete_an_event():
    event = audit_record(action="payout.approve", subject=("payout", 1), after={"amount": "10"})
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="payout.reject")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()


def test_personal_data_can_be_erased_without_breaking_the_chain():
    event = audit_record(
        action="profile.update", subject=("user", 1), personal={"legal_name": "Ann"}
    )
    AuditEvent.objects.filter(pk=event.pk).update(personal={})
    assert AuditEvent.objects.get(pk=event.pk).personal == {}
    assert audit_verify_chains()[1] == []


def _tamper(sql: str, params: list) -> None:
    # What a DBA with full rights could do: switch the guard off, edit history, switch it on.
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        cursor.execute(sql, params)
        cursor.execute("SET session_replication_role = origin")


def test_a_tampered_event_is_detected():
    audit_record(action="payout.approve", subject=("payout", 9), after={"amount": "100.00"})
    audit_record(action="payout.paid", subject=("payout", 9))
    first = AuditEvent.objects.get(subject_id="9", seq=1)
    _tamper(
        "UPDATE core_auditevent SET after = %s WHERE id = %s", ['{"amount": "900.00"}', first.pk]
    )
    checked, problems = audit_verify_chains()
    assert checked == 2
    assert [(p.subject_id, p.seq) for p in problems] == [("9", 1)]
    assert "changed" in problems[0].problem


def test_a_removed_event_is_detected_and_the_command_fails():
    for action in ("a", "b", "c"):
        audit_record(action=action, subject=("account", 3))
    _tamper("DELETE FROM core_auditevent WHERE subject_id = '3' AND seq = 2", [])
    problems = audit_verify_chains()[1]
    assert any(p.seq == 3 and "missing" in p.problem for p in problems)


@pytest.mark.django_db(transaction=True)
def test_verify_command_exits_1_naming_the_broken_event(service_env):
    audit_record(action="a", subject=("account", 4))
    _tamper("UPDATE core_auditevent SET action = 'z' WHERE subject_id = '4'", [])
    result = subprocess.run(
        [sys.executable, "manage.py", "audit_verify"],
        cwd=ROOT,
        env=service_env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "account:4 event 1" in result.stderr


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_on_one_subject_get_consecutive_events():
    """Without the per-subject lock both writers read the same last event and one fails on
    the (subject, seq) unique constraint."""
    barrier = threading.Barrier(8)
    errors: list[Exception] = []

    def write(i: int) -> None:
        try:
            barrier.wait()
            with transaction.atomic():
                audit_record(action=f"w{i}", subject=("account", 77))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    seqs = list(AuditEvent.objects.filter(subject_id="77").values_list("seq", flat=True))
    assert seqs == list(range(1, 9))
    assert audit_verify_chains()[1] == []


def test_seq_is_unique_per_subject():
    audit_record(action="a", subject=("account", 5))
    with pytest.raises(IntegrityError), transaction.atomic():
        AuditEvent.objects.create(
            subject_type="account",
            subject_id="5",
            seq=1,
            action="x",
            at="2026-01-01T00:00:00Z",
            prev_hash=GENESIS,
            hash="f" * 64,
        )
