"""Batch enforcement's edges, in process: a halt the rules engine does not confirm stays (only a
four-eyes override lifts a halt) and is audited as unconfirmed; a flatten batch leaves alone an
account whose rule state moved since it was screened."""

from __future__ import annotations

from datetime import timedelta

import pytest

from apps.challenges.models_lifecycle import EvaluatedAccount
from apps.core.models import AuditEvent
from apps.core.services import audit_verify_chains
from apps.risk.enforcement import (
    Breach,
    Flatten,
    breach_enforce,
    breaches_flatten,
    breaches_halt,
)
from apps.trading.models import Order, TradingAccount
from tests.risk_engine.support import frame, market, open_accounts, trade

pytestmark = pytest.mark.django_db(transaction=True)


def _marks(price: str) -> list[dict]:
    f = frame(BTC=price)
    return [{"t": f.t.isoformat(), "type": "mark", "symbol": "BTC", "price": price}]


def test_a_halt_the_rules_engine_does_not_confirm_stays_for_a_risk_manager_and_is_audited():
    market()
    (account,) = open_accounts(1)
    trade(account, "buy", "1")
    breach = Breach(account.trading_account_id, account.pk, "daily_loss")
    (halted,) = breaches_halt([breach])
    assert (halted.before, halted.changed) == ("active", True)
    assert TradingAccount.objects.get(pk=breach.account).state == "halted"

    # The account is nowhere near a floor at this mark: the writer decides nothing.
    result = breach_enforce(breach=breach, marks=_marks("60100"), before=halted.before)
    assert result.status == "active"
    assert TradingAccount.objects.get(pk=breach.account).state == "halted"
    unconfirmed = AuditEvent.objects.get(
        subject_id=str(breach.account), action="risk.breach_unconfirmed"
    )
    assert unconfirmed.after["rule"] == "daily_loss" and unconfirmed.before == {"state": "active"}
    assert not Order.objects.filter(account_id=breach.account, origin="system_flatten").exists()
    assert audit_verify_chains()[1] == []


def test_halting_an_account_already_halted_changes_and_audits_nothing():
    market()
    (account,) = open_accounts(1)
    breach = Breach(account.trading_account_id, account.pk, "max_loss")
    breaches_halt([breach])
    (again,) = breaches_halt([breach])
    assert (again.before, again.changed) == ("halted", False)
    audited = AuditEvent.objects.filter(subject_id=str(breach.account), action="account.state")
    assert audited.count() == 1


def test_the_flatten_batch_leaves_an_account_whose_rule_state_moved_to_its_lifecycle():
    market()
    moved, still = open_accounts(2)
    for account in (moved, still):
        trade(account, "buy", "2")
    items = []
    for account in (moved, still):
        account.refresh_from_db()
        breaches_halt([Breach(account.trading_account_id, account.pk, "max_loss")])
        items.append(Flatten(account.trading_account_id, account.pk, account.evaluated_at, 99))
    # Someone evaluated `moved` after it was screened: its predicted keys cannot be trusted.
    EvaluatedAccount.objects.filter(pk=moved.pk).update(
        evaluated_at=moved.evaluated_at + timedelta(seconds=1)
    )
    taken = breaches_flatten(items)
    assert taken == {still.trading_account_id}
    order = Order.objects.get(account_id=still.trading_account_id, origin="system_flatten")
    assert (order.side, str(order.size), order.reduce_only) == ("sell", "2.0000000000", True)
    assert order.idempotency_key == f"flatten:{still.pk}:BTC:99"
    assert order.outbox.get().action == "place"
    assert not Order.objects.filter(
        account_id=moved.trading_account_id, origin="system_flatten"
    ).exists()
    assert audit_verify_chains()[1] == []
