"""The payment provider interface: begin a checkout, confirm it, read its webhooks.

A provider never writes our rows: it answers with plain values (a `Redirect`, a
`ProviderEvent`) and billing's services decide what they change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from apps.billing.models import Purchase

# What a provider event does to a purchase.
PAID = "paid"
FAILED = "failed"
ABANDONED = "abandoned"
REFUNDED = "refunded"
DISPUTED = "disputed"
IGNORED = "ignored"
EFFECTS = (PAID, FAILED, ABANDONED, REFUNDED, DISPUTED, IGNORED)


class ProviderError(Exception):
    """The provider could not start or confirm a payment; the message is for the candidate."""


class WebhookRejected(Exception):
    """A webhook whose signature, age or body does not check out: nothing was done."""


@dataclass(frozen=True)
class Redirect:
    """Where to send the candidate to pay, and the provider's name for that checkout."""

    url: str
    provider_ref: str = ""


@dataclass(frozen=True)
class ProviderEvent:
    """Something the provider tells us about a payment, in our words."""

    event_id: str
    kind: str  # the provider's own name, e.g. checkout.session.completed
    effect: str  # one of EFFECTS
    purchase_ref: str = ""  # our Purchase.ref, where the provider carries it back
    provider_ref: str = ""  # the provider's checkout, e.g. a Stripe session id
    payment_ref: str = ""  # the payment, e.g. a Stripe PaymentIntent id
    amount: Decimal | None = None  # what was paid, in the purchase's currency
    reason: str = ""
    payload: dict = field(default_factory=dict)


class PaymentProvider(Protocol):
    name: str

    def begin(self, purchase: Purchase, *, success_url: str, cancel_url: str) -> Redirect:
        """Open a checkout for the purchase's amount; raise ProviderError when it cannot."""
        ...

    def confirm(self, purchase: Purchase) -> ProviderEvent | None:
        """Ask the provider how the purchase's checkout ended (the return page's check); None
        when it has nothing to say yet."""
        ...

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        """Verify a webhook delivery and read it; raise WebhookRejected when it is not
        genuine."""
        ...
