"""Payment providers behind one interface (base.PaymentProvider): sandbox and stripe."""

from __future__ import annotations

from django.conf import settings

from apps.billing.providers.base import PaymentProvider, ProviderError


def provider_get(name: str | None = None) -> PaymentProvider:
    """The provider called `name`, else the one settings.PAYMENT_PROVIDER chooses."""
    from apps.billing.providers.sandbox import SandboxProvider
    from apps.billing.providers.stripe import StripeProvider

    name = name or settings.PAYMENT_PROVIDER
    providers: dict[str, type] = {"sandbox": SandboxProvider, "stripe": StripeProvider}
    if name not in providers:
        raise ProviderError(f"Unknown payment provider {name!r}.")
    return providers[name]()
