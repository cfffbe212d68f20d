"""Finance's reports agree with the ledger to the cent, are built by a worker with their
progress recorded, and are downloaded only by finance."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from apps.accounts import roles
from apps.core import clock
from apps.payouts import exports
from apps.payouts.exports import export_build, export_request
from apps.payouts.models import Export, Payout
from apps.payouts.services import PayoutError, payout_approve, payout_mark_paid, payout_reject
from apps.payouts.services import payout_request as request
from apps.payouts.tasks import export_build_task
from apps.trading.models import LedgerEntry
from tests.payouts.support import book_profit, funded_from_plan, payout_plan, staff, trader
from tests.trading.market import load_instruments, set_prices

pytestmark = pytest.mark.django_db
MARCH, APRIL, MAY = (datetime(2026, m, 10, 12, tzinfo=UTC) for m in (3, 4, 5))


@pytest.fixture
def book(django_capture_on_commit_callbacks):
    """Two traders' payouts over three months: paid (with the fee refund), approved, rejected
    and requested, with uneven cents so rounding would show."""
    load_instruments()
    set_prices(BTC="60000")
    clock.freeze(datetime(2026, 2, 20, tzinfo=UTC))
    plan = payout_plan("rep", first_payout_days=0, profit_split_pct=Decimal("85"))
    finance = staff(roles.FINANCE)
    alice, bob = trader(name="Alice Ångström"), trader(name="Bob Byrne")
    with django_capture_on_commit_callbacks(execute=True):
        a = funded_from_plan(plan, alice, ref="a")
        b = funded_from_plan(plan, bob, ref="b")
    for month, (profit_a, profit_b) in zip(
        (MARCH, APRIL, MAY),
        [("1234.57", "999.99"), ("2000.01", "333.33"), ("777.77", "50")],
        strict=True,
    ):
        clock.freeze(month)
        book_profit(a, profit_a, f"a-{month.month}")
        book_profit(b, profit_b, f"b-{month.month}")
        pa, pb = request(account=a, actor=alice), request(account=b, actor=bob)
        if month is MAY:
            payout_reject(payout=pb, actor=finance, reason="Destination under review")
            continue  # alice's May payout stays requested
        payout_approve(payout=pa, actor=finance)
        payout_approve(payout=pb, actor=finance)
        payout_mark_paid(payout=pa, actor=finance, reference=f"tx-a-{month.month}")
        if month is MARCH:
            payout_mark_paid(payout=pb, actor=finance, reference="tx-b-3")
    clock.freeze(datetime(2026, 6, 1, tzinfo=UTC))
    return {"finance": finance, "alice": alice, "bob": bob, "a": a, "b": b}


def ledger_payouts(**filters) -> Decimal:
    entries = LedgerEntry.objects.filter(kind="payout", **filters)
    return -sum((e.amount for e in entries), Decimal("0"))


def built(kind: str, params: dict, actor) -> Export:
    export = export_request(kind=kind, params=params, actor=actor)
    return export_build(export_id=export.pk)


def test_the_register_lists_every_payout_and_its_gross_is_the_ledger_entry(book):
    export = built(
        "register_csv", {"date_from": "2026-03-01", "date_to": "2026-05-31"}, book["finance"]
    )
    assert (export.status, export.progress, export.rows) == ("done", 100, 6)
    assert export.filename == "payout-register-2026-03-01-to-2026-05-31.csv"
    rows = list(csv.DictReader(io.StringIO(bytes(export.content).decode("utf-8-sig"))))
    assert [r["status"] for r in rows] == [
        "paid",
        "paid",
        "paid",
        "approved",
        "requested",
        "rejected",
    ]
    assert rows[0]["trader"] == "Legal Alice Ångström" and rows[0]["fee refund"] == "100.00"
    for row in rows:
        gross = Decimal(row["gross profit"])
        assert Decimal(row["trader share"]) + Decimal(row["firm share"]) == gross
        assert Decimal(row["amount"]) == Decimal(row["trader share"]) + Decimal(row["fee refund"])
        if row["ledger key"]:
            assert -LedgerEntry.objects.get(key=row["ledger key"]).amount == gross
            assert row["approver"] == book["finance"].email
    booked = sum(Decimal(r["gross profit"]) for r in rows if r["status"] in ("approved", "paid"))
    assert booked == ledger_payouts() == Decimal("4567.90")
    assert rows[-1]["reason"] == "Destination under review"
    assert rows[1]["payment reference"] == "tx-b-3"


def test_the_xlsx_register_holds_the_same_figures(book):
    export = built(
        "register_xlsx", {"date_from": "2026-04-01", "date_to": "2026-04-30"}, book["finance"]
    )
    sheet = load_workbook(io.BytesIO(bytes(export.content)), read_only=True).active
    header, *rows = list(sheet.values)
    at = {name: header.index(name) for name in ("gross profit", "ledger key", "status")}
    assert len(rows) == 2
    for row in rows:
        entry = LedgerEntry.objects.get(key=row[at["ledger key"]])
        assert Decimal(str(row[at["gross profit"]])) == -entry.amount
    assert sum(Decimal(str(r[at["gross profit"]])) for r in rows) == ledger_payouts(at__month=4)


def pdf_text(export: Export) -> str:
    content = bytes(export.content)
    assert content.startswith(b"%PDF")
    return " ".join(re.findall(r"\((.*?)\) Tj", content.decode("latin-1")))


def test_a_statement_gives_one_traders_payouts_and_totals_equal_to_the_ledger(book):
    export = built(
        "statement_pdf",
        {"date_from": "2026-03-01", "date_to": "2026-05-31", "trader": book["alice"].pk},
        book["finance"],
    )
    text = pdf_text(export)
    assert "Payout statement" in text and "Legal Alice Ångström" in text
    total = ledger_payouts(account=book["a"].trading_account)
    assert total == Decimal("3234.58")
    assert f"{total:,.2f}" in text
    for payout in Payout.objects.filter(trader=book["alice"]):
        assert f"{payout.gross_profit:,.2f}" in text and payout.period in text


def test_the_tax_summary_totals_what_was_paid_by_month_with_country_and_tax_id(book):
    alice = book["alice"]
    export = built("tax_csv", {"trader": alice.pk, "year": 2026}, book["finance"])
    lines = list(csv.reader(io.StringIO(bytes(export.content).decode("utf-8-sig"))))
    assert ["country", "DE"] in lines and ["tax identifier", f"DE-{alice.pk:05d}"] in lines
    months = {row[0]: row for row in lines if row and row[0].startswith("2026-")}
    assert months["2026-03"][1:] == ["1", "1234.57", "1049.38", "100.00", "1149.38"]
    assert months["2026-04"][2] == "2000.01" and months["2026-05"][1] == "0"
    total = next(row for row in lines if row and row[0] == "total")
    paid = Payout.objects.filter(trader=alice, status="paid")
    assert Decimal(total[2]) == ledger_payouts(key__in=[p.ledger_key for p in paid])
    pdf = pdf_text(built("tax_pdf", {"trader": alice.pk, "year": 2026}, book["finance"]))
    assert "Tax summary 2026" in pdf and f"DE-{alice.pk:05d}" in pdf and "Germany" in pdf
    assert "3,234.58" in pdf and "2,849.39" in pdf  # the gross total and the total paid


def test_exports_run_in_the_worker_task_and_record_their_progress(
    book, django_capture_on_commit_callbacks, monkeypatch
):
    seen = []
    real = exports.register_csv

    def spy(date_from, date_to, progress):
        def record(done, total):
            progress(done, total)
            seen.append(Export.objects.get().progress)

        return real(date_from, date_to, record)

    monkeypatch.setattr(exports, "register_csv", spy)
    monkeypatch.setattr(export_build_task, "delay", lambda pk: export_build_task.apply(args=[pk]))
    with django_capture_on_commit_callbacks(execute=True):
        export = export_request(
            kind="register_csv",
            params={"date_from": "2026-03-01", "date_to": "2026-03-31"},
            actor=book["finance"],
        )
    export.refresh_from_db()
    assert export.status == "done" and seen == [99]
    assert export_build(export_id=export.pk).status == "done"  # a redelivery builds nothing


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("register_csv", {"date_from": "2026-03-01", "date_to": "March"}, "must be a date"),
        ("register_csv", {"date_from": "2026-03-02", "date_to": "2026-03-01"}, "ends before"),
        ("register_csv", {"date_from": "2025-01-01", "date_to": "2026-03-01"}, "at most a year"),
        ("tax_pdf", {"trader": None, "year": 2026}, "Choose the trader"),
        ("tax_csv", {"trader": 0, "year": "2026"}, "Choose the trader"),
        ("payslip", {}, "Unknown export"),
    ],
)
def test_bad_export_parameters_are_refused(kind, params, message):
    with pytest.raises(PayoutError, match=message):
        export_request(kind=kind, params=params, actor=staff(roles.FINANCE))
    assert not Export.objects.exists()


def test_only_finance_exports(book):
    with pytest.raises(PayoutError, match="Only finance"):
        export_request(
            kind="tax_csv", params={"trader": book["alice"].pk, "year": 2026}, actor=book["alice"]
        )


def test_a_year_for_the_tax_summary_is_required(book):
    with pytest.raises(PayoutError, match="needs a year"):
        export_request(
            kind="tax_csv", params={"trader": book["alice"].pk, "year": None}, actor=book["finance"]
        )
