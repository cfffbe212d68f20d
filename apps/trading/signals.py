"""Announcements from trading to the apps above it (they connect in their AppConfig.ready()).

Sent after the transaction commits, so a receiver sees the committed rows and its own work
(the rules engine, for one) runs in its own transaction.
"""

from __future__ import annotations

from django.dispatch import Signal

# A fill, funding payment or adjustment was booked on a trading account: `account_id`.
account_activity = Signal()


def announce_activity(account_id: int) -> None:
    from django.db import transaction

    transaction.on_commit(
        lambda: account_activity.send(sender="trading", account_id=account_id), robust=True
    )
