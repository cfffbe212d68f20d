"""The pre-submit registry: higher apps answer "may this order go?" before it is written.

`risk` registers its gate here in its AppConfig.ready(); trading never imports risk.
A check returns None to let the order pass, or a Refusal with a reason code and a message a
trader understands.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apps.trading.models import TradingAccount


@dataclass(frozen=True)
class OrderIntent:
    """What a trader (or the system) asks for, before it becomes an order."""

    coin: str
    side: str  # buy | sell
    kind: str  # market | limit | stop_market | stop_limit | take_profit | stop_loss
    size: Decimal
    limit_price: Decimal | None = None
    trigger_price: Decimal | None = None
    tif: str = "gtc"  # gtc | ioc | alo
    reduce_only: bool = False
    client_order_id: str = ""

    def request_hash(self) -> str:
        """The digest a repeated idempotency key is compared with (the same request, the same
        answer; another request under that key is refused)."""
        canonical = json.dumps(self.fingerprint(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def fingerprint(self) -> dict:
        """The request as compared for an idempotency key's repeat."""
        return {
            "coin": self.coin,
            "side": self.side,
            "kind": self.kind,
            "size": f"{self.size.normalize():f}",
            "limit_price": None
            if self.limit_price is None
            else f"{self.limit_price.normalize():f}",
            "trigger_price": (
                None if self.trigger_price is None else f"{self.trigger_price.normalize():f}"
            ),
            "tif": self.tif,
            "reduce_only": self.reduce_only,
            "client_order_id": self.client_order_id,
        }


@dataclass(frozen=True)
class SubmitContext:
    account: TradingAccount
    intent: OrderIntent
    origin: str
    now: datetime
    # For a modify: the order the intent replaces (checks leave it out of open-order counts).
    replaces: object | None = None
    # The latest marks by coin, as order entry read them to validate the intent (one read of
    # the latest frame for every check); None when the caller read none.
    quotes: dict | None = None
    # What each check's declared reads returned, by the check's name, when order entry sent
    # them in its own round trip (see `register_pre_submit_check`); a check not in it reads
    # for itself.
    read: dict | None = None


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str
    field: str | None = None


PreSubmitCheck = Callable[[SubmitContext], Refusal | None]
# The statements (SQL with %s placeholders, params) a check will read, given the context
# before the account is locked: order entry sends them in the round trip that takes the lock,
# after it, and hands their rows to the check as `context.read[name]`.
PreSubmitReads = Callable[[SubmitContext], list[tuple[str, list]]]
_CHECKS: dict[str, PreSubmitCheck] = {}
_READS: dict[str, PreSubmitReads] = {}


def register_pre_submit_check(
    name: str, check: PreSubmitCheck, reads: PreSubmitReads | None = None
) -> None:
    _CHECKS[name] = check
    if reads is not None:
        _READS[name] = reads
    else:
        _READS.pop(name, None)


def pre_submit_checks() -> list[PreSubmitCheck]:
    return list(_CHECKS.values())


def pre_submit_reads() -> dict[str, PreSubmitReads]:
    return dict(_READS)
