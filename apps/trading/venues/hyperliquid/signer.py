"""Signing and recovering Hyperliquid actions with the official SDK's own functions.

L1 actions (orders, cancels, sub-account actions) are signed by an agent wallet through a
"phantom agent": the EIP-712 struct Agent(source, connectionId) where connectionId is the
keccak of the msgpack'd action, the nonce and the vault address, and source is "a" on mainnet,
"b" elsewhere. User-signed actions (USD sends, withdrawals) are plain EIP-712 structs. We
never re-implement these: a difference of one byte is a rejected order, so the SDK's code is
the one source, and tests/hyperliquid proves it against the SDK's published vectors.
"""

from __future__ import annotations

from typing import Any

from hyperliquid.utils import signing

USER_SIGNED = {
    "usd_transfer": signing.sign_usd_transfer_action,
    "withdraw": signing.sign_withdraw_from_bridge_action,
}


def action_hash(action: dict, *, vault: str | None, nonce: int, expires_after: int | None) -> bytes:
    return signing.action_hash(action, vault, nonce, expires_after)


def phantom_agent(
    action: dict, *, vault: str | None, nonce: int, expires_after: int | None, mainnet: bool
) -> dict:
    digest = action_hash(action, vault=vault, nonce=nonce, expires_after=expires_after)
    return signing.construct_phantom_agent(digest, mainnet)


def sign_l1(
    wallet: Any,
    action: dict,
    *,
    vault: str | None,
    nonce: int,
    expires_after: int | None,
    mainnet: bool,
) -> dict:
    """{"r", "s", "v"} as the exchange endpoint takes them."""
    return signing.sign_l1_action(wallet, action, vault, nonce, expires_after, mainnet)


def recover_l1(
    action: dict,
    signature: dict,
    *,
    vault: str | None,
    nonce: int,
    expires_after: int | None,
    mainnet: bool,
) -> str:
    """The address that signed an L1 action (the agent, or the user itself)."""
    return signing.recover_agent_or_user_from_l1_action(
        action, signature, vault, nonce, expires_after, mainnet
    )


def sign_user_action(kind: str, wallet: Any, message: dict, *, mainnet: bool) -> dict:
    """A user-signed action; the SDK adds signatureChainId and hyperliquidChain to `message`."""
    return USER_SIGNED[kind](wallet, message, mainnet)


def float_to_int_for_hashing(value: float) -> int:
    return signing.float_to_int_for_hashing(value)
