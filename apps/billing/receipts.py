"""Receipts: e-mailed after the payment commits, and shown at /billing/receipts/<ref>/."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse

from apps.accounts.selectors import brand_get
from apps.core import clock

log = logging.getLogger(__name__)


def receipt_send(purchase) -> None:
    """E-mail the receipt once the transaction that took the payment commits."""
    from apps.billing.models import Purchase

    brand = brand_get()
    context = {
        "purchase": purchase,
        "brand": brand,
        "receipt_url": settings.SITE_URL.rstrip("/")
        + reverse("billing:receipt", args=[purchase.ref]),
        "dashboard_url": settings.SITE_URL.rstrip("/") + reverse("portal:dashboard"),
    }
    body = render_to_string("billing/email/receipt.txt", context)
    subject = f"[{brand.name}] Your receipt {purchase.receipt_number}"
    address, pk = purchase.buyer.email, purchase.pk

    def send() -> None:
        try:
            send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [address])
        except Exception:
            log.exception("could not e-mail the receipt of purchase %s", pk)
            return
        Purchase.objects.filter(pk=pk, receipt_sent_at__isnull=True).update(
            receipt_sent_at=clock.now()
        )

    transaction.on_commit(send)
