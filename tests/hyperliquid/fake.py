"""A local fake of Hyperliquid's HTTP API (`POST /info`, `POST /exchange`) for the venue's tests.

What it answers, and from where:

- Recorded answers (../shared/fixtures/hyperliquid, read at test time, never copied): `meta`
  and `allMids` always; and for the recorded users, their `clearinghouseState` (2023 shape,
  no `time`), `userFillsByTime` (2023 fills without `tid`/`cloid`), `userFunding`,
  `frontendOpenOrders` and `userNonFundingLedgerUpdates`, verbatim.
- What was never recorded, in the shapes Hyperliquid's docs give ("Exchange endpoint": order
  statuses resting / filled / error, cancel "success", createSubAccount's address, the
  `{"type": "default"}` of transfers and leverage, `{"status": "err"}` refusals; "Info
  endpoint": orderStatus with `unknownOid`, subAccounts with each clearinghouseState): the
  sub-accounts the tests create, their orders, fills (in the modern shape of the recorded
  samples, with `tid`, `cloid`, `feeToken`), funding and ledger.

Every `/exchange` request's shape is checked, and its signature recovered (with the SDK's own
recovery) must be the agent of the master concerned; anything off is kept in `problems`
(the tests assert it stays empty) and answered the way the venue would refuse it.

Faults a test can ask for, once each, per request kind (an action type or an info type):
"timeout" (stall past the client's timeout, never act), "drop" (act, then close without an
answer), "429" (rate limited), "truncate" (act, answer half a body), "refuse:<text>" (a
whole-action refusal), "error:<text>" (an order status error). `duplicate_fills` answers every
fill twice.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import yaml
from hyperliquid.utils.signing import recover_agent_or_user_from_l1_action

from apps.trading.venues.paper.hlrules import BAD_ALO_PX, IOC_CANCEL, MIN_TRADE_NTL, MISSING_ORDER
from tests.conftest import shared_path

FIXTURES = ("fixtures", "hyperliquid")
TAKER = Decimal("0.00045")
MAKER = Decimal("0.00015")
ORDER_KEYS = ["a", "b", "p", "s", "r", "t"]
EXCHANGE_KEYS = {"action", "nonce", "signature", "vaultAddress", "expiresAfter"}
CLOID = re.compile(r"^0x[0-9a-f]{32}$")
ADDRESS = re.compile(r"^0x[0-9a-f]{40}$")


def fixture(relative: str):
    return shared_path(*FIXTURES, *relative.split("/"))


def recorded_answers() -> dict[tuple, Any]:
    """Every recorded info answer, keyed by (type, user) (user "" when the request has none)."""
    answers: dict[tuple, Any] = {}
    bounded: dict[tuple, Any] = {}
    for path in sorted(fixture("cassettes").glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        for interaction in data["interactions"]:
            request = json.loads(interaction["request"]["body"])
            answer = json.loads(interaction["response"]["body"]["string"])
            key = (request["type"], str(request.get("user", "")).lower())
            # An answer cut at an endTime is a fallback: the open-ended one is the history.
            (bounded if request.get("endTime") is not None else answers).setdefault(key, answer)
    return {**bounded, **answers}


def sample(name: str) -> Any:
    return json.loads(fixture(f"samples/{name}").read_text())


def wire_number(value: Decimal) -> str:
    text = f"{value.normalize():f}"
    return "0.0" if text in ("0", "-0") else text


@dataclass
class FakeOrder:
    oid: int
    cloid: str | None
    coin: str
    side: str  # B / A
    limit_px: Decimal
    orig_sz: Decimal
    sz: Decimal
    tif: str | None
    reduce_only: bool
    trigger: dict | None
    status: str
    timestamp: int

    def as_info(self) -> dict:
        return {
            "coin": self.coin,
            "side": self.side,
            "limitPx": wire_number(self.limit_px),
            "sz": wire_number(self.sz),
            "oid": self.oid,
            "timestamp": self.timestamp,
            "triggerCondition": "N/A" if self.trigger is None else "Price crosses",
            "isTrigger": self.trigger is not None,
            "triggerPx": self.trigger["triggerPx"] if self.trigger else "0.0",
            "children": [],
            "isPositionTpsl": False,
            "reduceOnly": self.reduce_only,
            "orderType": "Limit" if self.trigger is None else "Stop Market",
            "origSz": wire_number(self.orig_sz),
            "tif": self.tif,
            "cloid": self.cloid,
        }


@dataclass
class FakeSub:
    address: str
    name: str
    master: str
    balance: Decimal = Decimal(0)
    positions: dict[str, list[Decimal]] = field(default_factory=dict)  # coin -> [szi, entry]
    fills: list[dict] = field(default_factory=list)
    funding: list[dict] = field(default_factory=list)
    ledger: list[dict] = field(default_factory=list)


class FakeHyperliquid:
    def __init__(self, *, stall_seconds: float = 2.0):
        recorded = recorded_answers()
        self.recorded = recorded
        self.meta = recorded[("meta", "")]
        self.mids = dict(recorded[("allMids", "")])
        self.assets = {a["name"]: i for i, a in enumerate(self.meta["universe"])}
        self.sz_decimals = {a["name"]: a["szDecimals"] for a in self.meta["universe"]}
        self.fill_template = sample("http_user_fills_dust_conversion.json")[0]
        self.stall_seconds = stall_seconds
        self.lock = threading.Lock()
        self.masters: dict[str, dict] = {}
        self.subs: dict[str, FakeSub] = {}
        self.orders: dict[str, list[FakeOrder]] = {}  # sub -> orders
        self.placed: dict[str, int] = {}  # cloid -> orders placed with it
        self.exchange_log: list[dict] = []
        self.info_log: list[dict] = []
        self.problems: list[str] = []
        self.faults: dict[str, list[str]] = {}
        self.duplicate_fills = False
        self.legacy_state = False  # answer clearinghouseState without the newer fields
        self._forced_error: str | None = None
        self._forced_refusal: str | None = None
        self._oid = 90_000_000
        self._tid = 700_000_000_000
        self._closing = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self._closing.set()
        self.server.shutdown()
        self.server.server_close()

    # --- what tests set up and look at --------------------------------------------------------
    def add_master(self, address: str, agent: str, balance: Decimal) -> None:
        self.masters[address.lower()] = {"agent": agent, "balance": balance}

    def fail_next(self, kind: str, mode: str) -> None:
        self.faults.setdefault(kind, []).append(mode)

    def actions(self, kind: str) -> list[dict]:
        return [e["action"] for e in self.exchange_log if e["action"].get("type") == kind]

    def add_funding(self, sub: str, coin: str, usdc: str, rate: str, at_ms: int) -> None:
        with self.lock:
            account = self.subs[sub]
            szi = account.positions.get(coin, [Decimal(0)])[0]
            account.funding.append(
                {
                    "time": at_ms,
                    "hash": "0x" + hashlib.sha256(f"{sub}{coin}{at_ms}".encode()).hexdigest(),
                    "delta": {
                        "type": "funding",
                        "coin": coin,
                        "usdc": usdc,
                        "szi": wire_number(szi),
                        "fundingRate": rate,
                        "nSamples": None,
                    },
                }
            )
            account.balance += Decimal(usdc)

    # --- HTTP -------------------------------------------------------------------------------
    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    return self._answer(
                        422, "Failed to deserialize the JSON body into the target type"
                    )
                if self.path == "/info":
                    kind = str(body.get("type")) if isinstance(body, dict) else "?"
                    act = lambda: fake._info(body)  # noqa: E731
                elif self.path == "/exchange":
                    action = body.get("action") if isinstance(body, dict) else None
                    kind = str(action.get("type")) if isinstance(action, dict) else "?"
                    act = lambda: fake._exchange(body)  # noqa: E731
                else:
                    return self._answer(404, "not found")
                fault = fake._fault(kind)
                if fault == "timeout":
                    fake._closing.wait(fake.stall_seconds)
                    self.close_connection = True
                    return None
                if fault == "429":
                    return self._answer(429, "null")
                with fake.lock:
                    fake._forced_error = fault[6:] if fault and fault.startswith("error:") else None
                    fake._forced_refusal = (
                        fault[7:] if fault and fault.startswith("refuse:") else None
                    )
                    status, answer = act()
                if fault == "drop":
                    self.close_connection = True
                    return None
                text = json.dumps(answer, separators=(",", ":"))
                if fault == "truncate":
                    text = text[: max(1, len(text) // 2)]
                return self._answer(status, text)

            def _answer(self, status: int, answer: Any):
                text = answer if isinstance(answer, str) else json.dumps(answer)
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return None

        return Handler

    def _fault(self, kind: str) -> str | None:
        with self.lock:
            queue = self.faults.get(kind)
            return queue.pop(0) if queue else None

    # --- /info ------------------------------------------------------------------------------
    def _info(self, body: dict) -> tuple[int, Any]:
        self.info_log.append(body)
        kind = body.get("type")
        user = str(body.get("user", "")).lower()
        if kind in ("meta", "allMids"):
            return 200, self.recorded[(kind, "")]
        if user in self.subs:
            return self._sub_info(kind, self.subs[user], body)
        if kind == "subAccounts" and user in self.masters:
            listed = [
                {
                    "name": s.name,
                    "subAccountUser": s.address,
                    "master": user,
                    "clearinghouseState": self._state(s),
                    "spotState": {"balances": []},
                }
                for s in self.subs.values()
                if s.master == user
            ]
            return 200, listed or None
        recorded = self.recorded.get((kind, user))
        if recorded is not None:
            if kind in ("userFillsByTime", "userFunding", "userNonFundingLedgerUpdates"):
                start = body.get("startTime") or 0
                return 200, [e for e in recorded if e["time"] >= start]
            return 200, recorded
        if kind == "orderStatus":
            return 200, {"status": "unknownOid"}
        return 422, "Failed to deserialize the JSON body into the target type"

    def _sub_info(self, kind: str, sub: FakeSub, body: dict) -> tuple[int, Any]:
        start = body.get("startTime") or 0
        if kind == "clearinghouseState":
            return 200, self._state(sub)
        if kind == "orderStatus":
            for order in self.orders.get(sub.address, []):
                if body.get("oid") in (order.cloid, order.oid):
                    return 200, {
                        "status": "order",
                        "order": {
                            "order": order.as_info(),
                            "status": order.status,
                            "statusTimestamp": order.timestamp,
                        },
                    }
            return 200, {"status": "unknownOid"}
        if kind == "userFillsByTime":
            fills = [f for f in sub.fills if f["time"] >= start]
            if self.duplicate_fills:
                fills = [copy.deepcopy(f) for f in fills for _ in range(2)]
            return 200, fills
        if kind == "userFunding":
            return 200, [f for f in sub.funding if f["time"] >= start]
        if kind == "userNonFundingLedgerUpdates":
            return 200, [e for e in sub.ledger if e["time"] >= start]
        if kind == "frontendOpenOrders":
            return 200, [
                o.as_info() for o in self.orders.get(sub.address, []) if o.status == "open"
            ]
        return 422, "Failed to deserialize the JSON body into the target type"

    def _state(self, sub: FakeSub) -> dict:
        """clearinghouseState in the recorded 2023 shape, plus `time` unless legacy."""
        positions = []
        unrealized = Decimal(0)
        notional = Decimal(0)
        for coin, (szi, entry) in sub.positions.items():
            if not szi:
                continue
            mid = Decimal(self.mids[coin])
            pnl = szi * (mid - entry)
            unrealized += pnl
            notional += abs(szi) * mid
            positions.append(
                {
                    "position": {
                        "coin": coin,
                        "entryPx": wire_number(entry),
                        "leverage": {"type": "cross", "value": 20},
                        "liquidationPx": None,
                        "marginUsed": wire_number(abs(szi) * mid / 20),
                        "positionValue": wire_number(abs(szi) * mid),
                        "returnOnEquity": "0.0",
                        "szi": wire_number(szi),
                        "unrealizedPnl": wire_number(pnl),
                    },
                    "type": "oneWay",
                }
            )
        value = sub.balance + unrealized
        summary = {
            "accountValue": wire_number(value),
            "totalMarginUsed": wire_number(notional / 20),
            "totalNtlPos": wire_number(notional),
            "totalRawUsd": wire_number(value - notional),
        }
        state = {
            "assetPositions": positions,
            "crossMarginSummary": dict(summary),
            "marginSummary": summary,
            "withdrawable": wire_number(max(value - notional / 20, Decimal(0))),
        }
        if not self.legacy_state:
            state["time"] = int(time.time() * 1000)
        return state

    # --- /exchange --------------------------------------------------------------------------
    def _problem(self, text: str) -> tuple[int, Any]:
        self.problems.append(text)
        return 200, {"status": "err", "response": text}

    def _exchange(self, body: dict) -> tuple[int, Any]:
        if set(body) != EXCHANGE_KEYS:
            return self._problem(f"exchange body keys {sorted(body)}")
        action, nonce, signature = body["action"], body["nonce"], body["signature"]
        vault = body["vaultAddress"]
        if not isinstance(nonce, int) or abs(nonce - time.time() * 1000) > 60_000:
            return self._problem(f"nonce {nonce!r} is not a recent time in ms")
        if not (
            isinstance(signature, dict)
            and set(signature) == {"r", "s", "v"}
            and signature["v"] in (27, 28)
        ):
            return self._problem(f"signature {signature!r}")
        try:
            signer = recover_agent_or_user_from_l1_action(
                action, signature, vault, nonce, body["expiresAfter"], False
            )
        except Exception as exc:  # a signature that recovers to nothing
            return self._problem(f"signature does not recover: {exc!r}")
        kind = action.get("type")
        self.exchange_log.append({"action": action, "vault": vault, "signer": signer})
        if kind in ("createSubAccount", "subAccountTransfer"):
            if vault is not None:
                return self._problem(f"{kind} with a vaultAddress")
            master = next(
                (m for m, v in self.masters.items() if v["agent"].lower() == signer.lower()), None
            )
        else:
            sub = self.subs.get(str(vault).lower())
            master = sub.master if sub else None
            if master is not None and self.masters[master]["agent"].lower() != signer.lower():
                master = None
        if master is None:
            return self._problem(f"User or API Wallet {signer.lower()} does not exist.")
        if self._forced_refusal:
            return 200, {"status": "err", "response": self._forced_refusal}
        handler = {
            "order": self._order,
            "cancelByCloid": self._cancel,
            "batchModify": self._modify,
            "updateLeverage": self._leverage,
            "createSubAccount": self._create_sub,
            "subAccountTransfer": self._transfer,
        }.get(kind)
        if handler is None:
            return self._problem(f"unexpected action {kind!r}")
        return handler(action, master, str(vault).lower() if vault else None)

    def _check_wire(self, order: Any) -> str | None:
        if not isinstance(order, dict):
            return f"order wire {order!r}"
        keys = list(order)
        if keys not in (ORDER_KEYS, [*ORDER_KEYS, "c"]):
            return f"order wire keys {keys}"
        for name in ("p", "s"):
            value = order[name]
            if not isinstance(value, str) or f"{Decimal(value).normalize():f}" != value:
                return f"order wire {name}={value!r} is not the SDK's number format"
        kind = order["t"]
        if "limit" in kind:
            if kind != {"limit": {"tif": kind["limit"].get("tif")}} or kind["limit"]["tif"] not in (
                "Gtc",
                "Ioc",
                "Alo",
            ):
                return f"order type {kind!r}"
        elif "trigger" in kind:
            if list(kind["trigger"]) != ["isMarket", "triggerPx", "tpsl"]:
                return f"trigger keys {list(kind['trigger'])}"
        else:
            return f"order type {kind!r}"
        if "c" in order and not CLOID.match(order["c"]):
            return f"cloid {order['c']!r}"
        return None

    def _next_oid(self) -> int:
        self._oid += 1
        return self._oid

    def _order(self, action: dict, master: str, vault: str | None) -> tuple[int, Any]:
        if list(action) != ["type", "orders", "grouping"] or action["grouping"] != "na":
            return self._problem(f"order action keys {list(action)}")
        sub = self.subs[vault]
        statuses = []
        for wire in action["orders"]:
            problem = self._check_wire(wire)
            if problem:
                return self._problem(problem)
            statuses.append(self._one_order(sub, wire))
        return 200, {"status": "ok", "response": {"type": "order", "data": {"statuses": statuses}}}

    def _one_order(self, sub: FakeSub, wire: dict) -> dict:
        if self._forced_error:
            return {"error": self._forced_error}
        names = {i: n for n, i in self.assets.items()}
        if wire["a"] not in names:
            return {"error": f"Asset {wire['a']} is out of range."}
        coin = names[wire["a"]]
        cloid = wire.get("c")
        if cloid:
            self.placed[cloid] = self.placed.get(cloid, 0) + 1
        px, sz, is_buy = Decimal(wire["p"]), Decimal(wire["s"]), wire["b"]
        if px * sz < 10 and not wire["r"]:
            return {"error": MIN_TRADE_NTL}
        mid = Decimal(self.mids[coin])
        crosses = px >= mid if is_buy else px <= mid
        trigger = wire["t"].get("trigger")
        tif = wire["t"].get("limit", {}).get("tif")
        order = FakeOrder(
            oid=self._next_oid(),
            cloid=cloid,
            coin=coin,
            side="B" if is_buy else "A",
            limit_px=px,
            orig_sz=sz,
            sz=sz,
            tif=tif,
            reduce_only=wire["r"],
            trigger=trigger,
            status="open",
            timestamp=int(time.time() * 1000),
        )
        if trigger is None and tif == "Alo" and crosses:
            return {"error": BAD_ALO_PX.format(bid=mid, ask=mid)}
        if trigger is None and tif == "Ioc" and not crosses:
            return {"error": IOC_CANCEL}
        self.orders.setdefault(sub.address, []).append(order)
        if trigger is None and crosses:
            self._fill(sub, order, mid, crossed=True)
            return {
                "filled": {"totalSz": wire_number(sz), "avgPx": wire_number(mid), "oid": order.oid}
            }
        return {"resting": {"oid": order.oid, "cloid": cloid} if cloid else {"oid": order.oid}}

    def _fill(self, sub: FakeSub, order: FakeOrder, px: Decimal, *, crossed: bool) -> None:
        signed = order.sz if order.side == "B" else -order.sz
        szi, entry = sub.positions.get(order.coin, [Decimal(0), Decimal(0)])
        closed = Decimal(0)
        if szi and (szi > 0) != (signed > 0):
            closing = min(abs(szi), abs(signed))
            closed = closing * (px - entry) * (1 if szi > 0 else -1)
        new = szi + signed
        if not new:
            entry = Decimal(0)
        elif not szi or (szi > 0) == (signed > 0):
            entry = (abs(szi) * entry + abs(signed) * px) / abs(new)
        elif (new > 0) != (szi > 0):
            entry = px
        sub.positions[order.coin] = [new, entry]
        fee = (order.sz * px * (TAKER if crossed else MAKER)).quantize(Decimal("0.000001"))
        sub.balance += closed - fee
        self._tid += 1
        fill = dict(self.fill_template)
        fill.update(
            coin=order.coin,
            px=wire_number(px),
            sz=wire_number(order.sz),
            side=order.side,
            time=int(time.time() * 1000),
            startPosition=wire_number(szi),
            dir="Open Long" if order.side == "B" else "Open Short",
            closedPnl=wire_number(closed),
            hash="0x" + hashlib.sha256(f"{order.oid}".encode()).hexdigest(),
            oid=order.oid,
            crossed=crossed,
            fee=wire_number(fee),
            tid=self._tid,
            cloid=order.cloid,
            feeToken="USDC",
            twapId=None,
        )
        sub.fills.append(fill)
        order.sz, order.status = Decimal(0), "filled"

    def _find(self, vault: str, cloid: str) -> FakeOrder | None:
        for order in self.orders.get(vault, []):
            if order.cloid == cloid:
                return order
        return None

    def _cancel(self, action: dict, master: str, vault: str | None) -> tuple[int, Any]:
        statuses = []
        for cancel in action.get("cancels", []):
            if list(cancel) != ["asset", "cloid"]:
                return self._problem(f"cancel keys {list(cancel)}")
            order = self._find(vault, cancel["cloid"])
            if order is None or order.status != "open":
                statuses.append({"error": MISSING_ORDER})
            else:
                order.status = "canceled"
                statuses.append("success")
        return 200, {"status": "ok", "response": {"type": "cancel", "data": {"statuses": statuses}}}

    def _modify(self, action: dict, master: str, vault: str | None) -> tuple[int, Any]:
        statuses = []
        for modify in action.get("modifies", []):
            problem = self._check_wire(modify.get("order"))
            if problem:
                return self._problem(problem)
            order = self._find(vault, modify["oid"])
            if order is None or order.status != "open":
                statuses.append({"error": MISSING_ORDER})
                continue
            order.limit_px = Decimal(modify["order"]["p"])
            order.sz = order.orig_sz = Decimal(modify["order"]["s"])
            statuses.append({"resting": {"oid": order.oid}})
        return 200, {
            "status": "ok",
            "response": {"type": "batchModify", "data": {"statuses": statuses}},
        }

    def _leverage(self, action: dict, master: str, vault: str | None) -> tuple[int, Any]:
        if list(action) != ["type", "asset", "isCross", "leverage"]:
            return self._problem(f"updateLeverage keys {list(action)}")
        return 200, {"status": "ok", "response": {"type": "default"}}

    def _create_sub(self, action: dict, master: str, vault: str | None) -> tuple[int, Any]:
        if list(action) != ["type", "name"] or not action["name"]:
            return self._problem(f"createSubAccount {action!r}")
        digest = hashlib.sha256(f"{master}/{action['name']}".encode()).hexdigest()
        address = "0x" + digest[:40]
        if address in self.subs:
            return 200, {"status": "err", "response": "Sub-account name already taken."}
        self.subs[address] = FakeSub(address=address, name=action["name"], master=master)
        return 200, {"status": "ok", "response": {"type": "createSubAccount", "data": address}}

    def _transfer(self, action: dict, master: str, vault: str | None) -> tuple[int, Any]:
        if list(action) != ["type", "subAccountUser", "isDeposit", "usd"]:
            return self._problem(f"subAccountTransfer keys {list(action)}")
        if not isinstance(action["usd"], int) or action["usd"] <= 0:
            return self._problem(f"subAccountTransfer usd {action['usd']!r}")
        sub = self.subs.get(action["subAccountUser"])
        if sub is None or sub.master != master:
            return 200, {"status": "err", "response": "Invalid sub-account."}
        amount = Decimal(action["usd"]) / 1_000_000
        holder = self.masters[master]
        if action["isDeposit"]:
            if holder["balance"] < amount:
                return 200, {"status": "err", "response": "Insufficient balance for transfer."}
            holder["balance"] -= amount
            sub.balance += amount
            source, destination = master, sub.address
        else:
            if sub.balance < amount:
                return 200, {"status": "err", "response": "Insufficient balance for transfer."}
            sub.balance -= amount
            holder["balance"] += amount
            source, destination = sub.address, master
        now = int(time.time() * 1000)
        sub.ledger.append(
            {
                "time": now,
                "hash": "0x" + hashlib.sha256(f"{sub.address}{now}{amount}".encode()).hexdigest(),
                "delta": {
                    "type": "subAccountTransfer",
                    "usdc": wire_number(amount),
                    "user": source,
                    "destination": destination,
                },
            }
        )
        return 200, {"status": "ok", "response": {"type": "default"}}
