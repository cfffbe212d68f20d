import subprocess
import sys
import time

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from django.core.management import call_command

from apps.accounts.demo import DemoError, current_totp
from apps.accounts.models import User
from tests.conftest import ROOT

pytestmark = pytest.mark.django_db


def _snapshot():
    return sorted(
        (u.email, u.is_staff, tuple(u.groups.values_list("name", flat=True)))
        for u in User.objects.all()
    ), Authenticator.objects.count()


def test_seed_demo_creates_one_person_per_role_and_is_idempotent():
    call_command("seed_demo")
    first = _snapshot()
    call_command("seed_demo")
    assert _snapshot() == first
    emails = [e for e, _, _ in first[0]]
    assert emails == ["admin@demo.test", "finance@demo.test", "risk@demo.test", "trader@demo.test"]
    staff = User.objects.filter(is_staff=True)
    assert all(TOTP(Authenticator.objects.get(user=u, type="totp")) for u in staff)


def test_demo_totp_prints_a_code_the_login_accepts():
    call_command("seed_demo")
    code = current_totp("risk@demo.test", time.time())
    authenticator = Authenticator.objects.get(user__email="risk@demo.test", type="totp")
    assert TOTP(authenticator).validate_code(code)


def test_demo_totp_refuses_anyone_outside_the_demo_domain():
    with pytest.raises(DemoError, match="not a demo person"):
        current_totp("ceo@realfirm.com", time.time())


@pytest.mark.django_db(transaction=True)
def test_demo_totp_command_exits_non_zero_outside_the_demo_domain(service_env):
    result = subprocess.run(
        [sys.executable, "manage.py", "demo_totp", "ceo@realfirm.com"],
        cwd=ROOT,
        env=service_env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and "refusing" in result.stderr and result.stdout == ""
