"""E-mails to the trader about their payouts and scaling, sent after the transaction commits."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string

from apps.accounts.selectors import brand_get

log = logging.getLogger(__name__)

SUBJECTS = {
    "approved": "Your payout was approved",
    "paid": "Your payout was sent",
    "rejected": "Your payout request was rejected",
    "scaled_up": "Your funded account was scaled up",
    "scaled_down": "Your funded account was scaled down",
}


def notify_trader(user, event: str, **context) -> None:
    brand = brand_get()
    body = render_to_string(
        f"payouts/email/{event}.txt",
        {"user": user, "brand": brand, "site_url": settings.SITE_URL, **context},
    )
    subject = f"[{brand.name}] {SUBJECTS[event]}"

    def send() -> None:
        try:
            send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email])
        except Exception:
            log.exception("could not e-mail %s about %s", user.pk, event)

    transaction.on_commit(send)
