"""Reads of the Hyperliquid venue's records."""

from __future__ import annotations

from django.db.models import Count, F, Q, QuerySet

from apps.trading.models import TradingAccount
from apps.trading.models_hyperliquid import HyperliquidMaster, Provisioning, SubAccount
from apps.trading.venues.base import VenueError


def hyperliquid_ready(account: TradingAccount) -> bool:
    """Whether the account may trade on Hyperliquid: its sub-account is assigned and funded."""
    return (
        Provisioning.objects.filter(
            trading_account=account, status=Provisioning.Status.READY
        ).exists()
        and SubAccount.objects.filter(
            trading_account=account, status=SubAccount.Status.ASSIGNED, address=account.venue_ref
        ).exists()
    )


def sub_account_trading(venue_account: str) -> SubAccount:
    """The sub-account an order goes to; refuses, saying why, while it is not ready."""
    sub = (
        SubAccount.objects.select_related("master__network", "trading_account")
        .filter(address=venue_account.lower(), status=SubAccount.Status.ASSIGNED)
        .first()
    )
    provisioning = None
    if sub is not None:
        provisioning = Provisioning.objects.filter(trading_account=sub.trading_account).first()
    elif venue_account.startswith("hyperliquid-"):
        provisioning = Provisioning.objects.filter(
            trading_account_id=venue_account.removeprefix("hyperliquid-")
        ).first()
    if sub is None or provisioning is None or provisioning.status != Provisioning.Status.READY:
        state = provisioning.get_status_display().lower() if provisioning else "not requested"
        raise VenueError(
            "This account's Hyperliquid sub-account is not ready "
            f"(provisioning: {state}); it can trade once it is created and funded."
        )
    return sub


def sub_account_any(venue_account: str) -> SubAccount:
    """The sub-account by address whatever its state (reads of its history)."""
    sub = (
        SubAccount.objects.select_related("master__network")
        .filter(address=venue_account.lower())
        .first()
    )
    if sub is None:
        raise VenueError(f"No Hyperliquid sub-account {venue_account} is known here.")
    return sub


def masters_with_room() -> QuerySet[HyperliquidMaster]:
    """Active masters holding fewer live sub-accounts than they may, fullest last."""
    return (
        HyperliquidMaster.objects.filter(active=True)
        .annotate(live=Count("sub_accounts", filter=~Q(sub_accounts__status="retired")))
        .filter(live__lt=F("max_sub_accounts"))
        .order_by("live", "id")
    )


def sub_accounts_polled() -> QuerySet[SubAccount]:
    """Assigned sub-accounts whose account is ready: the ones whose fills and funding we read."""
    return (
        SubAccount.objects.filter(
            status=SubAccount.Status.ASSIGNED,
            trading_account__hyperliquid_provisioning__status=Provisioning.Status.READY,
        )
        .select_related("trading_account", "master__network")
        .order_by("id")
    )
