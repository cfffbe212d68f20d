"""The payout register of a period: one row per payout requested in it, as CSV and XLSX."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal

from apps.payouts.models import Payout
from apps.payouts.selectors import profile_of, register_payouts

Progress = Callable[[int, int], None]
HEADER = [
    "payout",
    "trader",
    "trader e-mail",
    "account",
    "period",
    "status",
    "gross profit",
    "split %",
    "trader share",
    "firm share",
    "fee refund",
    "amount",
    "currency",
    "requested at",
    "approver",
    "approved at",
    "ledger key",
    "payment reference",
    "paid at",
    "reason",
]
MONEY_COLUMNS = {"gross profit", "trader share", "firm share", "fee refund", "amount"}


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


def register_rows(date_from: date, date_to: date, progress: Progress) -> Iterator[list]:
    payouts = register_payouts(date_from, date_to)
    total = payouts.count()
    for n, payout in enumerate(payouts.iterator(chunk_size=1000), start=1):
        yield _row(payout)
        if n % 500 == 0 or n == total:
            progress(n, total)
    if total == 0:
        progress(0, 0)


def _row(payout: Payout) -> list:
    profile = profile_of(payout.trader)
    approved = payout.status in (Payout.Status.APPROVED, Payout.Status.PAID)
    return [
        payout.pk,
        (profile.legal_name if profile else "") or payout.trader.get_full_name(),
        payout.trader.email,
        payout.account.trading_account_id,
        payout.period,
        payout.status,
        payout.gross_profit,
        payout.split_pct.normalize(),
        payout.trader_share,
        payout.firm_share,
        payout.fee_refund,
        payout.amount,
        payout.currency,
        _when(payout.requested_at),
        payout.approved_by.email if payout.approved_by else "",
        _when(payout.decided_at) if approved else "",
        payout.ledger_entry.key if payout.ledger_entry else "",
        payout.payment_reference,
        _when(payout.paid_at),
        payout.reason,
    ]


def register_csv(date_from: date, date_to: date, progress: Progress) -> tuple[bytes, int]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    count = 0
    for row in register_rows(date_from, date_to, progress):
        writer.writerow([f"{v:f}" if isinstance(v, Decimal) else v for v in row])
        count += 1
    # UTF-8 with a byte-order mark: spreadsheet programs then read names in any script.
    return out.getvalue().encode("utf-8-sig"), count


def register_xlsx(date_from: date, date_to: date, progress: Progress) -> tuple[bytes, int]:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    book = Workbook(write_only=True)
    sheet = book.create_sheet(f"Payouts {date_from:%Y-%m-%d} to {date_to:%Y-%m-%d}"[:31])
    bold = Font(bold=True)
    header = []
    for title in HEADER:
        cell = WriteOnlyCell(sheet, value=title)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    money_at = {HEADER.index(c) for c in MONEY_COLUMNS}
    count = 0
    for row in register_rows(date_from, date_to, progress):
        cells = []
        for n, value in enumerate(row):
            cell = WriteOnlyCell(sheet, value=value)
            if n in money_at:
                cell.number_format = "#,##0.00"
            cells.append(cell)
        sheet.append(cells)
        count += 1
    out = io.BytesIO()
    book.save(out)
    return out.getvalue(), count
