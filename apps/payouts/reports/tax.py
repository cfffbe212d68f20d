"""A trader's yearly tax summary: what was paid to them, by month, with their country and tax
identifier, as CSV and PDF."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import date

from apps.accounts.models import User
from apps.accounts.selectors import brand_get
from apps.payouts.reports.pdf import Document, money
from apps.payouts.selectors import tax_summary

COLUMNS = ["payouts", "gross_profit", "trader_share", "fee_refund", "total_paid"]


def _month(n: int) -> str:
    return date(2000, n, 1).strftime("%B")


def tax_csv(trader: User, year: int, progress: Callable[[int, int], None]) -> tuple[bytes, int]:
    summary = tax_summary(trader, year)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["trader", summary["legal_name"]])
    writer.writerow(["e-mail", trader.email])
    writer.writerow(["country", summary["country_code"]])
    writer.writerow(["tax identifier", summary["tax_id"]])
    writer.writerow(["year", year])
    writer.writerow([])
    writer.writerow(
        ["month", "payouts", "gross profit", "trader share", "fee refund", "total paid"]
    )
    for row in summary["months"]:
        writer.writerow([f"{year}-{row['month']:02d}", *(_text(row[c]) for c in COLUMNS)])
    writer.writerow(["total", *(_text(summary["total"][c]) for c in COLUMNS)])
    progress(1, 1)
    return out.getvalue().encode("utf-8-sig"), summary["total"]["payouts"]


def _text(value) -> str:
    return str(value) if isinstance(value, int) else f"{value:.2f}"


def tax_pdf(trader: User, year: int, progress: Callable[[int, int], None]) -> tuple[bytes, int]:
    summary = tax_summary(trader, year)
    doc = Document(title=f"Tax summary {year}", brand=brand_get().name)
    doc.facts(
        [
            ("Trader", summary["legal_name"]),
            ("E-mail", trader.email),
            ("Country", summary["country"] or "-"),
            ("Tax identifier", summary["tax_id"] or "-"),
            ("Year", str(year)),
        ]
    )
    rows = [
        [
            _month(row["month"]),
            str(row["payouts"]),
            money(row["gross_profit"]),
            money(row["trader_share"]),
            money(row["fee_refund"]),
            money(row["total_paid"]),
        ]
        for row in summary["months"]
    ]
    total = summary["total"]
    rows.append(
        [
            "Total",
            str(total["payouts"]),
            money(total["gross_profit"]),
            money(total["trader_share"]),
            money(total["fee_refund"]),
            money(total["total_paid"]),
        ]
    )
    doc.table(
        ["Month", "Payouts", "Gross profit", "Profit share", "Fee refund", "Total paid"],
        rows,
        [34, 18, 32, 32, 30, 34],
    )
    doc.note(
        "Payouts counted in the month finance paid them. Total paid = the trader's profit "
        "share + the challenge fee refunded with the first payout."
    )
    progress(1, 1)
    return doc.output(), total["payouts"]
