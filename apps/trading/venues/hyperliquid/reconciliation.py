"""A reconciliation source for the risk issue's daily check: what Hyperliquid holds, per
sub-account, from one request per master.

`positions_and_balances(master)` asks `subAccounts` with the master's address once (weight 20,
however many sub-accounts it has) and returns, for every sub-account the venue lists, its cash
balance (account value less unrealised P&L: what our ledger's balance should equal) and its
open positions, keyed by the sub-account's address (lower case). Compare it with our books of
the trading account `SubAccount.trading_account` assigned to that address. Sub-accounts the
venue lists but we never created are included too, so a stray one is visible.
"""

from __future__ import annotations

from apps.trading.models_hyperliquid import HyperliquidMaster
from apps.trading.venues.base import VenueBalance, VenueError
from apps.trading.venues.hyperliquid import wire
from apps.trading.venues.hyperliquid.client import Client


def positions_and_balances(master: HyperliquidMaster) -> dict[str, VenueBalance]:
    """{sub-account address: VenueBalance} for every sub-account of `master`, in one call.

    Raises VenueError (with the venue's or the parser's words) when the answer cannot be had
    or read: a reconciliation must not compare against a partial picture."""
    found: dict[str, VenueBalance] = {}
    for entry in Client(master).sub_accounts():
        address = str(entry["subAccountUser"]).lower()
        try:
            found[address] = wire.balance(entry.get("clearinghouseState"))
        except wire.WireError as exc:
            raise VenueError(
                f"Hyperliquid's subAccounts answer for {address} is malformed: {exc}"
            ) from None
    return found
