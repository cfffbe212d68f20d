"""The firm aggregate: a shard's partial from its book, and partials summed into the firm's."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.risk.engine.aggregate import (
    firm_aggregate_latest,
    firm_aggregate_sum,
    partial_aggregate,
    partial_store,
)
from apps.risk.engine.book import Book, Row
from apps.risk.engine.shard import Shard, ShardError

D = Decimal


def _partial(shard: str, rows: list[Row], marks: dict[str, str]) -> dict:
    book = Book()
    for row in rows:
        book.upsert(row)
    book.set_marks({c: D(p) for c, p in marks.items()})
    index, count = shard.split("/")
    return partial_aggregate(
        book, book.revalue(), shard=shard, shards=int(count), t=f"2026-03-02T00:00:0{index}", seq=1
    )


def _row(account, balance, positions, floor=None, real=False):
    return Row(
        account,
        D(balance),
        {c: (D(q), D(e)) for c, (q, e) in positions.items()},
        max_loss_floor=None if floor is None else D(floor),
        initial=D("100000"),
        day_base=D(balance),
        real=real,
    )


def test_a_partial_splits_real_and_simulated_exposure_and_ranks_the_closest_accounts():
    partial = _partial(
        "0/2",
        [
            _row(2, "100000", {"BTC": ("2", "60000")}, floor="90000", real=True),
            _row(4, "100000", {"BTC": ("-1", "60000"), "ETH": ("10", "3000")}, floor="99000"),
            _row(6, "50000", {}),  # no floor: not ranked
        ],
        {"BTC": "59000", "ETH": "3100"},
    )
    assert partial["accounts"] == 3
    btc = partial["instruments"]["BTC"]
    assert btc["real"] == {"long": "118000.00", "short": "0.00", "net": "118000.00", "accounts": 1}
    assert btc["simulated"] == {
        "long": "0.00",
        "short": "59000.00",
        "net": "-59000.00",
        "accounts": 1,
    }
    assert partial["instruments"]["ETH"]["simulated"]["long"] == "31000.00"
    # Equity: 98,000 + 102,000 (+1,000 short BTC, +1,000 ETH) + 50,000.
    assert partial["equity"] == "250000.00" and partial["day_pnl"] == "0.00"
    assert [(r["account"], r["headroom_pct"]) for r in partial["closest"]] == [
        (4, "3.00"),
        (2, "8.00"),
    ]


def test_partials_sum_exactly_and_say_whether_every_shard_answered():
    zero = _partial("0/2", [_row(2, "100000", {"BTC": ("1", "60000")}, "95000")], {"BTC": "60000"})
    one = _partial("1/2", [_row(3, "100000", {"BTC": ("-3", "60000")}, "99500")], {"BTC": "60000"})
    total = firm_aggregate_sum([zero, one])
    assert total["complete"] and total["shards"] == ["0/2", "1/2"]
    assert total["accounts"] == 2 and total["equity"] == "200000.00"
    assert total["instruments"]["BTC"]["simulated"] == {
        "long": "60000.00",
        "short": "180000.00",
        "net": "-120000.00",
        "accounts": 2,
    }
    assert [r["account"] for r in total["closest"]] == [3, 2]
    assert total["t"] == "2026-03-02T00:00:00"
    assert not firm_aggregate_sum([zero])["complete"]
    assert firm_aggregate_sum([])["accounts"] == 0


def test_the_latest_aggregate_sums_the_live_partials_kept_in_redis():
    partial_store(_partial("0/2", [_row(2, "1000", {})], {}))
    partial_store(_partial("1/2", [_row(3, "2000", {})], {}))
    total = firm_aggregate_latest()
    assert (total["complete"], total["accounts"], total["equity"]) == (True, 2, "3000.00")


@pytest.mark.parametrize(
    ("text", "owns"), [("0/1", [1, 2, 3, 4]), ("0/2", [2, 4]), ("1/2", [1, 3]), ("2/3", [2])]
)
def test_a_shard_owns_the_accounts_whose_id_modulo_n_is_its_index(text, owns):
    shard = Shard.parse(text)
    assert shard.label == text
    assert [a for a in range(1, 5) if shard.owns(a)] == owns


@pytest.mark.parametrize("text", ["2/2", "1", "a/b", "-1/2", "0/0", "1/2/3"])
def test_a_malformed_shard_is_refused_with_a_message(text):
    with pytest.raises(ShardError, match="shard"):
        Shard.parse(text)
