"""The venue's settings and secrets: base URLs, timeouts, slippage, and agent keys.

Settings are read from Django settings when the lead adds them there, else from the
environment, with these defaults:

- HYPERLIQUID_BASE_URL: the network of a master that names none (mainnet).
- HYPERLIQUID_TIMEOUT: seconds before a request counts as unanswered (10).
- HYPERLIQUID_MARKET_SLIPPAGE: how far from the mid a market order's IOC limit may go (0.05).
- HYPERLIQUID_WEIGHT_PER_MINUTE: the venue's per-IP limit (1200); HYPERLIQUID_BUDGET_FRACTION:
  the share of it we allow ourselves (0.8); HYPERLIQUID_POLL_RESERVE: the share of our budget
  polling leaves for orders (0.25); HYPERLIQUID_BUDGET_KEY: one budget per egress IP
  ("default"); HYPERLIQUID_BUDGET_WAIT: seconds an order may wait for budget (2).

An agent wallet's private key is read from the environment variable or the file its master
names, at the moment it signs: it is never stored in the database nor shown.
"""

from __future__ import annotations

import os
import re
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings

from apps.trading.venues.base import VenueError

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from apps.trading.models_hyperliquid import HyperliquidMaster

MAINNET_URL = "https://api.hyperliquid.xyz"
TESTNET_URL = "https://api.hyperliquid-testnet.xyz"
_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


def setting(name: str, default: str) -> str:
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name, "") or default
    return str(value)


def base_url_default() -> str:
    return setting("HYPERLIQUID_BASE_URL", MAINNET_URL).rstrip("/")


def timeout() -> float:
    return float(setting("HYPERLIQUID_TIMEOUT", "10"))


def market_slippage() -> Decimal:
    value = Decimal(setting("HYPERLIQUID_MARKET_SLIPPAGE", "0.05"))
    if not Decimal(0) < value < Decimal(1):
        raise VenueError(f"HYPERLIQUID_MARKET_SLIPPAGE={value} must be between 0 and 1.")
    return value


def base_url_of(master: HyperliquidMaster) -> str:
    if master.network_id is not None:
        return master.network.base_url.rstrip("/")
    return base_url_default()


def is_mainnet(base_url: str) -> bool:
    """The SDK signs for mainnet only when it talks to the mainnet URL; anything else (testnet,
    a local node, our fake) gets testnet signatures, so we say the same wherever we decide."""
    return base_url.rstrip("/") == MAINNET_URL


class AgentKeyMissing(VenueError):
    pass


def _read_key(master: HyperliquidMaster) -> str:
    if master.agent_key_env:
        raw = os.environ.get(master.agent_key_env, "").strip()
        if not raw:
            raise AgentKeyMissing(
                f"The agent key of master {master.address} is not available: environment "
                f"variable {master.agent_key_env} is empty or unset."
            )
    else:
        path = Path(master.agent_key_file)
        try:
            raw = path.read_text().strip()
        except OSError as exc:
            raise AgentKeyMissing(
                f"The agent key of master {master.address} is not available: cannot read "
                f"{path} ({exc.strerror})."
            ) from None
    if not _KEY.match(raw):
        # Never echo the value: it is a secret even when malformed.
        raise AgentKeyMissing(
            f"The agent key of master {master.address} is malformed (expected 64 hex digits)."
        )
    return raw if raw.startswith("0x") else "0x" + raw


def agent_wallet(master: HyperliquidMaster) -> LocalAccount:
    """The master's agent (API) wallet, from its secret, for signing."""
    from eth_account import Account

    return Account.from_key(_read_key(master))


def agent_address(master: HyperliquidMaster) -> str:
    """The agent wallet's address: the only part of the secret anyone is shown."""
    return agent_wallet(master).address
