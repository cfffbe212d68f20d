import threading
from decimal import Decimal

import pytest
from django.db import connection

from apps.challenges.lifecycle import challenge_start
from apps.challenges.models_lifecycle import EvaluatedAccount
from apps.challenges.sweeps import _claim
from tests.challenges.lifecycle_support import make_plan
from tests.factories import UserFactory
from tests.trading.market import load_instruments, set_prices


@pytest.mark.django_db(transaction=True)
def test_two_sweepers_never_claim_the_same_account():
    """Without the compare-and-set on the lease both sweepers would take every account."""
    load_instruments()
    set_prices(BTC="60000")
    plan = make_plan("sweep", phases=1)
    for n in range(30):
        challenge_start(
            trader=UserFactory(), plan=plan, purchase_ref=f"sw-{n}", price_paid=Decimal("1")
        )
    barrier = threading.Barrier(2)
    claimed: list[list[int]] = []

    def sweeper():
        try:
            barrier.wait()
            claimed.append(_claim(100, 0))
        finally:
            connection.close()

    threads = [threading.Thread(target=sweeper) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    first, second = claimed
    assert not set(first) & set(second)
    assert len(first) + len(second) == EvaluatedAccount.objects.count() == 30
