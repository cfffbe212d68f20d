"""The sandbox: a clearly labelled TEST checkout page on our own site that can succeed or fail.

No money moves. It is the default in development and refused in production, where anyone
could otherwise buy a challenge by pressing "Pay".
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING

from django.conf import settings
from django.urls import reverse

from apps.billing.providers.base import ProviderError, ProviderEvent, Redirect, WebhookRejected

if TYPE_CHECKING:
    from apps.billing.models import Purchase


class SandboxProvider:
    name = "sandbox"

    def _allowed(self) -> None:
        if settings.PRODUCTION:
            raise ProviderError(
                "The TEST checkout is off in production: the firm must set PAYMENT_PROVIDER=stripe."
            )

    def begin(self, purchase: Purchase, *, success_url: str, cancel_url: str) -> Redirect:
        self._allowed()
        return Redirect(
            url=reverse("billing:sandbox", args=[purchase.ref]),
            provider_ref=f"sbx_cs_{secrets.token_hex(12)}",
        )

    def confirm(self, purchase: Purchase) -> ProviderEvent | None:
        return None  # the sandbox page completes the payment itself

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        raise WebhookRejected("The sandbox sends no webhooks.")

    @staticmethod
    def new_payment_ref() -> str:
        return f"sbx_pi_{secrets.token_hex(12)}"
