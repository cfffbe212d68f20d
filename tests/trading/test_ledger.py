from decimal import Decimal

import pytest
from django.db import DatabaseError, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.trading.models import LedgerEntry, TradingAccount
from apps.trading.selectors import ledger_sum
from apps.trading.services import TradingError, account_open, ledger_post
from tests.factories import UserFactory
from tests.trading.market import load_instruments

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _market():
    load_instruments()


def test_an_account_opens_with_its_capital_as_the_first_ledger_entry():
    account = account_open(owner=UserFactory(), starting_balance=Decimal("100000"), key="t1")
    account.refresh_from_db()
    assert account.balance == Decimal("100000")
    entry = LedgerEntry.objects.get(account=account)
    assert (entry.kind, entry.amount, entry.balance_after) == (
        "starting_capital",
        Decimal("100000"),
        Decimal("100000"),
    )


def test_opening_twice_with_one_key_opens_one_account():
    owner = UserFactory()
    first = account_open(owner=owner, starting_balance=Decimal("5000"), key="same")
    second = account_open(owner=owner, starting_balance=Decimal("5000"), key="same")
    assert first.pk == second.pk and TradingAccount.objects.count() == 1


def test_a_repeated_ledger_key_is_a_no_op():
    account = account_open(owner=UserFactory(), starting_balance=Decimal("1000"), key="t2")
    a = ledger_post(account=account, kind="adjustment", amount=Decimal("12.5"), key="adj-1")
    b = ledger_post(account=account, kind="adjustment", amount=Decimal("12.5"), key="adj-1")
    account.refresh_from_db()
    assert a.pk == b.pk and account.balance == Decimal("1012.5")


def test_a_ledger_key_reused_for_a_different_amount_is_refused():
    account = account_open(owner=UserFactory(), starting_balance=Decimal("1000"), key="t3")
    ledger_post(account=account, kind="adjustment", amount=Decimal("1"), key="k")
    with pytest.raises(TradingError, match="already used"):
        ledger_post(account=account, kind="adjustment", amount=Decimal("2"), key="k")


def test_the_database_refuses_a_balance_change_outside_the_ledger():
    account = account_open(owner=UserFactory(), starting_balance=Decimal("1000"), key="t4")
    with pytest.raises(DatabaseError, match="only through a ledger entry"), transaction.atomic():
        TradingAccount.objects.filter(pk=account.pk).update(balance=Decimal("999999"))
    account.refresh_from_db()
    assert account.balance == Decimal("1000")


def test_ledger_entries_cannot_be_changed_or_deleted():
    account = account_open(owner=UserFactory(), starting_balance=Decimal("1000"), key="t5")
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        LedgerEntry.objects.filter(account=account).update(amount=Decimal("1"))
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        LedgerEntry.objects.filter(account=account).delete()


def test_a_fee_must_be_a_debit():
    account = account_open(owner=UserFactory(), starting_balance=Decimal("1000"), key="t6")
    with pytest.raises(DatabaseError), transaction.atomic():
        ledger_post(account=account, kind="fee", amount=Decimal("3"), key="bad-fee")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["realized_pnl", "fee", "funding", "adjustment", "payout"]),
            st.decimals(min_value=Decimal("-5000"), max_value=Decimal("5000"), places=6),
            st.integers(min_value=0, max_value=5),  # a small key space, so repeats happen
        ),
        max_size=30,
    )
)
def test_balance_is_always_the_sum_of_the_ledger(operations):
    account = account_open(
        owner=UserFactory(),
        starting_balance=Decimal("10000"),
        key=f"prop-{UserFactory._meta.model.objects.count()}",
    )
    used: dict[str, tuple[str, Decimal]] = {}
    for kind, amount, slot in operations:
        if kind == "fee":
            amount = -abs(amount)
        if amount == 0:
            continue
        key = f"{account.pk}-{kind}-{slot}"
        if key in used and used[key] != (kind, amount):
            continue
        used[key] = (kind, amount)
        ledger_post(account=account, kind=kind, amount=amount, key=key)
    account.refresh_from_db()
    assert account.balance == ledger_sum(account)
    assert account.balance == Decimal("10000") + sum(a for _, a in used.values())
    last = LedgerEntry.objects.filter(account=account).order_by("-id").first()
    assert last.balance_after == account.balance
