"""A trader's payout statement for a period, as a PDF."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

from apps.accounts.models import User
from apps.accounts.selectors import brand_get
from apps.payouts.models import Payout
from apps.payouts.reports.pdf import Document, money
from apps.payouts.selectors import profile_of, statement_payouts

ZERO = Decimal("0")


def statement_pdf(
    trader: User, date_from: date, date_to: date, progress: Callable[[int, int], None]
) -> tuple[bytes, int]:
    payouts = list(statement_payouts(trader, date_from, date_to))
    profile = profile_of(trader)
    doc = Document(title="Payout statement", brand=brand_get().name)
    doc.facts(
        [
            ("Trader", (profile.legal_name if profile else "") or trader.get_full_name()),
            ("E-mail", trader.email),
            ("Country", str(profile.country.name) if profile and profile.country else "-"),
            ("Tax identifier", (profile.tax_id if profile else "") or "-"),
            ("Period", f"{date_from:%Y-%m-%d} to {date_to:%Y-%m-%d}"),
        ]
    )
    rows = []
    paid = {"gross": ZERO, "share": ZERO, "refund": ZERO, "amount": ZERO}
    for n, payout in enumerate(payouts, start=1):
        rows.append(
            [
                f"#{payout.pk} {payout.period}",
                f"{payout.account.trading_account_id}",
                payout.get_status_display(),
                money(payout.gross_profit),
                f"{payout.split_pct.normalize():f}%",
                money(payout.trader_share),
                money(payout.fee_refund),
                money(payout.amount),
                payout.payment_reference or "",
            ]
        )
        if payout.status in (Payout.Status.APPROVED, Payout.Status.PAID):
            paid["gross"] += payout.gross_profit
            paid["share"] += payout.trader_share
            paid["refund"] += payout.fee_refund
            paid["amount"] += payout.amount
        progress(n, len(payouts))
    rows.append(
        [
            "Approved and paid",
            "",
            "",
            money(paid["gross"]),
            "",
            money(paid["share"]),
            money(paid["refund"]),
            money(paid["amount"]),
            "",
        ]
    )
    doc.table(
        [
            "Payout",
            "Account",
            "Status",
            "Gross profit",
            "Split",
            "Your share",
            "Refund",
            "Amount",
            "Reference",
        ],
        rows,
        [30, 16, 18, 24, 13, 22, 18, 22, 27],
    )
    currency = payouts[0].currency if payouts else "USD"
    doc.note(
        f"Amounts in {currency}. The gross profit is the profit above the high-water mark that "
        "left the account (one ledger entry per payout); the firm keeps the rest of it."
    )
    if not payouts:
        progress(0, 0)
    return doc.output(), len(payouts)
