"""The official SDK behind our budget and our error vocabulary.

Every request goes through here: it takes its weight from the shared budget first, and every
way a request can go wrong becomes a VenueError with words a person can act on, or a
VenueTimeout where the venue may have acted without our hearing (an exchange action whose
answer was lost, cut, garbled or a 5xx): the caller must ask before sending it again.

Orders and sub-account actions go through `hyperliquid.exchange.Exchange` (signed by the
master's agent wallet, with `vault_address` = the sub-account for trading); reads through the
SDK's HTTP client. The SDK is built with the venue's meta handed in, so building it makes no
request of its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import requests

from apps.trading.venues.base import VenueError, VenueTimeout
from apps.trading.venues.hyperliquid import config, wire
from apps.trading.venues.hyperliquid.budget import (
    Budget,
    exchange_weight,
    info_weight,
    items_weight,
)

if TYPE_CHECKING:
    from hyperliquid.exchange import Exchange

    from apps.trading.models_hyperliquid import HyperliquidMaster

log = logging.getLogger("apps.trading.venues.hyperliquid")

META_SECONDS = 600.0
_EMPTY_SPOT_META = {"universe": [], "tokens": []}
_meta_cache: dict[str, tuple[float, dict]] = {}
# userFillsByTime answers at most 2000 fills; page on by the last one's time.
PAGE_LIMIT = 2000
MAX_PAGES = 5


def clear_meta_cache() -> None:
    _meta_cache.clear()


def _malformed(answer: Any) -> str | None:
    # The SDK turns a body that is not JSON into {"error": "Could not parse JSON: <body>"}.
    if isinstance(answer, dict) and set(answer) == {"error"}:
        text = str(answer["error"])
        if text.startswith("Could not parse JSON"):
            return text[:300]
    return None


class Client:
    """Requests for one master (and, for trading, one of its sub-accounts)."""

    def __init__(self, master: HyperliquidMaster, *, vault: str | None = None):
        self.master = master
        self.vault = vault
        self.base_url = config.base_url_of(master)
        self.mainnet = config.is_mainnet(self.base_url)
        self.budget = Budget()
        self._exchange: Exchange | None = None
        self._api = None

    # --- plumbing ----------------------------------------------------------------------------
    def _take(self, weight: int, *, polling: bool) -> None:
        wait = 0.0 if polling else float(config.setting("HYPERLIQUID_BUDGET_WAIT", "2"))
        if not self.budget.take(weight, wait_up_to=wait, keep_reserve=polling):
            raise VenueError(
                "Our Hyperliquid request budget (80% of its per-IP limit) is spent for the "
                "moment; the request will be retried.",
                retryable=True,
            )

    def _http(self, what: str, call: Callable[[], Any], *, acts: bool) -> Any:
        """Run one SDK call; `acts` says the request may change state at the venue."""
        from hyperliquid.utils.error import ClientError, ServerError

        try:
            answer = call()
        except requests.exceptions.ConnectTimeout:
            raise VenueError(
                f"Could not reach Hyperliquid at {self.base_url} ({what}).", retryable=True
            ) from None
        except (requests.exceptions.Timeout, requests.exceptions.ConnectionError) as exc:
            if acts:
                raise VenueTimeout(
                    f"Hyperliquid did not answer {what} ({type(exc).__name__}); it may have "
                    "acted, so it will be asked before anything is sent again."
                ) from None
            raise VenueError(
                f"Hyperliquid did not answer {what} ({type(exc).__name__}).", retryable=True
            ) from None
        except ClientError as exc:
            message = str(exc.error_message)[:300]
            if exc.status_code == 429:
                self.budget.drain()
                raise VenueError(
                    f"Hyperliquid rate limit reached (HTTP 429) on {what}: {message}",
                    retryable=True,
                ) from None
            raise VenueError(
                f"Hyperliquid refused {what} (HTTP {exc.status_code}): {message}"
            ) from None
        except ServerError as exc:
            reason = f"Hyperliquid failed on {what} (HTTP {exc.status_code}): {exc.message[:300]}"
            if acts:
                raise VenueTimeout(
                    reason + "; it will be asked before anything is resent."
                ) from None
            raise VenueError(reason, retryable=True) from None
        except (KeyError, ValueError, TypeError) as exc:
            # The SDK's own error handling trips on bodies it did not expect.
            raise VenueError(
                f"Hyperliquid answered {what} unreadably: {exc!r}", retryable=True
            ) from None
        garbled = _malformed(answer)
        if garbled is not None:
            if acts:
                raise VenueTimeout(
                    f"Hyperliquid's answer to {what} was malformed ({garbled}); it will be "
                    "asked before anything is sent again."
                )
            raise VenueError(
                f"Hyperliquid's answer to {what} was malformed ({garbled}).", retryable=True
            )
        return answer

    # --- reads -------------------------------------------------------------------------------
    def info(self, payload: dict, *, polling: bool = False) -> Any:
        from hyperliquid.api import API

        kind = payload["type"]
        self._take(info_weight(kind), polling=polling)
        if self._api is None:
            self._api = API(self.base_url, config.timeout())
        answer = self._http(kind, lambda: self._api.post("/info", payload), acts=False)
        if isinstance(answer, list):
            self.budget.charge(items_weight(kind, len(answer)))
        return answer

    def meta(self) -> dict:
        hit = _meta_cache.get(self.base_url)
        if hit is not None and time.monotonic() - hit[0] < META_SECONDS:
            return hit[1]
        answer = self.info({"type": "meta"})
        if not isinstance(answer, dict) or not isinstance(answer.get("universe"), list):
            raise VenueError(f"Hyperliquid's meta answer is malformed: {str(answer)[:200]}")
        _meta_cache[self.base_url] = (time.monotonic(), answer)
        return answer

    def sz_decimals(self, coin: str) -> int:
        for asset in self.meta()["universe"]:
            if asset.get("name") == coin:
                if asset.get("isDelisted"):
                    raise VenueError(f"{coin} is delisted on Hyperliquid.")
                return int(asset["szDecimals"])
        raise VenueError(f"{coin} is not listed on Hyperliquid (no such perpetual in its meta).")

    def mid(self, coin: str) -> Decimal | None:
        mids = self.info({"type": "allMids"})
        if not isinstance(mids, dict):
            raise VenueError(f"Hyperliquid's allMids answer is malformed: {str(mids)[:200]}")
        return wire.dec(mids[coin], f"allMids[{coin}]") if coin in mids else None

    def order_status(self, user: str, cloid: str) -> Any:
        return self.info({"type": "orderStatus", "user": user, "oid": cloid})

    def sub_accounts(self) -> list[dict]:
        answer = self.info({"type": "subAccounts", "user": self.master.address})
        try:
            return wire.sub_accounts(answer)
        except wire.WireError as exc:
            raise VenueError(f"Hyperliquid's subAccounts answer is malformed: {exc}") from None

    def clearinghouse(self, user: str) -> Any:
        return self.info({"type": "clearinghouseState", "user": user})

    def history(self, kind: str, user: str, start_ms: int, *, polling: bool) -> list:
        """userFillsByTime / userFunding / userNonFundingLedgerUpdates from `start_ms`
        (inclusive), paging on past full pages."""
        found: list = []
        start = start_ms
        for _ in range(MAX_PAGES):
            payload: dict = {"type": kind, "user": user, "startTime": start}
            if kind == "userFillsByTime":
                payload["aggregateByTime"] = False
            page = self.info(payload, polling=polling)
            if not isinstance(page, list):
                raise VenueError(f"Hyperliquid's {kind} answer is malformed: {str(page)[:200]}")
            found.extend(page)
            times = [e.get("time") for e in page if isinstance(e, dict)]
            last = max((t for t in times if isinstance(t, int)), default=start)
            if len(page) < PAGE_LIMIT or last <= start:
                break
            start = last
        return found

    def open_orders(self, user: str) -> list:
        answer = self.info({"type": "frontendOpenOrders", "user": user})
        if not isinstance(answer, list):
            raise VenueError(f"Hyperliquid's open orders answer is malformed: {str(answer)[:200]}")
        return answer

    # --- actions -----------------------------------------------------------------------------
    def exchange(self) -> Exchange:
        if self._exchange is None:
            from hyperliquid.exchange import Exchange

            self._exchange = Exchange(
                config.agent_wallet(self.master),
                self.base_url,
                meta=self.meta(),
                vault_address=self.vault,
                spot_meta=_EMPTY_SPOT_META,
                timeout=config.timeout(),
            )
        return self._exchange

    def act(self, what: str, call: Callable[[Exchange], Any], *, batch: int = 1) -> Any:
        exchange = self.exchange()
        self._take(exchange_weight(batch), polling=False)
        return self._http(what, lambda: call(exchange), acts=True)
