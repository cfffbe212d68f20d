"""Concentration alerts: the firm leaning too far one way in one instrument.

Two kinds, thresholds as data (`ConcentrationRule`, coin blank = any coin):
- net exposure: the firm's real (live-venue) net notional in one coin and direction above the
  rule's `max_net_notional`;
- crowding: `min_traders` or more traders on the same side of one coin, each within their own
  limits; paper accounts count here and the alert says how many of them are simulated.

An alert stays open until a risk manager acknowledges it (audited); while it is open the scan
raises no second alert with the same key (kind, coin, direction). New alerts are pushed to the
Channels group `risk.alerts` after commit.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from celery import shared_task
from django.db import IntegrityError, transaction

from apps.accounts.models import User
from apps.core import clock
from apps.core.services import audit_record
from apps.risk.models import Alert, ConcentrationRule
from apps.risk.push import ALERTS_GROUP, push_message
from apps.risk.selectors import firm_exposure
from apps.risk.services import RiskError, _require
from apps.trading.models import Position, Venue

ACKNOWLEDGE_PERMISSION = "risk.change_alert"
ALERT_TYPE = "risk.alert"


def alert_json(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.pk,
        "kind": alert.kind,
        "kind_label": alert.get_kind_display(),
        "coin": alert.coin,
        "direction": alert.direction,
        "simulated": alert.simulated,
        "message": alert.message,
        "raised_at": alert.raised_at.isoformat(),
    }


def alert_raise(
    *,
    kind: str,
    key: str,
    message: str,
    coin: str = "",
    direction: str = "",
    simulated: bool = False,
    details: dict | None = None,
) -> Alert | None:
    """Open an alert unless one with this key is open already (then None)."""
    if Alert.objects.filter(key=key, acknowledged_at__isnull=True).exists():
        return None
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                kind=kind,
                key=key,
                coin=coin,
                direction=direction,
                simulated=simulated,
                message=message,
                details=details or {},
            )
    except IntegrityError:
        return None  # a concurrent scan opened it first
    payload = {"type": ALERT_TYPE, "alert": alert_json(alert)}
    transaction.on_commit(lambda: push_message(ALERTS_GROUP, payload))
    return alert


@transaction.atomic
def alert_acknowledge(*, alert: Alert, actor: User | None, note: str = "") -> Alert:
    _require(actor, ACKNOWLEDGE_PERMISSION, "acknowledge an alert")
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if alert.acknowledged_at is not None:
        raise RiskError("This alert is acknowledged already.", code="acknowledged")
    alert.acknowledged_by, alert.acknowledged_at = actor, clock.now()
    alert.acknowledge_note = (note or "").strip()
    alert.save(update_fields=["acknowledged_by", "acknowledged_at", "acknowledge_note"])
    audit_record(
        action="risk.alert.acknowledge",
        subject=("risk.alert", str(alert.pk)),
        actor=actor,
        after={"kind": alert.kind, "key": alert.key, "note": alert.acknowledge_note},
    )
    return alert


def _traders_by_side() -> dict[tuple[str, str], dict[str, set[int]]]:
    """{(coin, direction): {"real": trader ids, "simulated": trader ids}} (one query)."""
    sides: dict[tuple[str, str], dict[str, set[int]]] = defaultdict(
        lambda: {"real": set(), "simulated": set()}
    )
    rows = Position.objects.exclude(size=0).values_list(
        "coin", "size", "account__owner_id", "account__venue"
    )
    for coin, size, owner, venue in rows:
        direction = "long" if size > 0 else "short"
        sides[(coin, direction)]["simulated" if venue == Venue.PAPER else "real"].add(owner)
    return sides


def _rule_for(rules: list[ConcentrationRule], coin: str) -> ConcentrationRule | None:
    """The coin's own rule, else the any-coin rule."""
    own = [r for r in rules if r.coin == coin]
    return own[0] if own else next((r for r in rules if not r.coin), None)


@transaction.atomic
def concentration_scan() -> list[Alert]:
    """Raise the alerts the firm's positions call for now; return the new ones."""
    rules = list(ConcentrationRule.objects.filter(active=True))
    if not rules:
        return []
    raised: list[Alert] = []
    for coin, found in firm_exposure().items():
        rule = _rule_for(rules, coin)
        if rule is None or rule.max_net_notional is None:
            continue
        net = found.real_net
        direction = "long" if net > 0 else "short"
        if abs(net) > rule.max_net_notional:
            alert = alert_raise(
                kind=Alert.Kind.NET_EXPOSURE,
                key=f"net_exposure:{coin}:{direction}",
                coin=coin,
                direction=direction,
                message=(
                    f"The firm is net {direction} {abs(net):,.2f} of {coin} (real capital), "
                    f"above the {rule.max_net_notional:,.2f} alert threshold."
                ),
                details={"net": f"{net:.2f}", "threshold": f"{rule.max_net_notional:.2f}"},
            )
            raised += [alert] if alert else []
    for (coin, direction), traders in sorted(_traders_by_side().items()):
        rule = _rule_for(rules, coin)
        if rule is None or rule.min_traders is None:
            continue
        real, simulated = len(traders["real"]), len(traders["simulated"] - traders["real"])
        total = real + simulated
        if total < rule.min_traders:
            continue
        label = f" ({simulated} simulated, on paper)" if simulated else ""
        alert = alert_raise(
            kind=Alert.Kind.CROWDING,
            key=f"crowding:{coin}:{direction}",
            coin=coin,
            direction=direction,
            simulated=simulated > 0,
            message=f"{total} traders are {direction} {coin}{label}: "
            f"at or above the {rule.min_traders}-trader alert threshold.",
            details={"real": real, "simulated": simulated, "threshold": rule.min_traders},
        )
        raised += [alert] if alert else []
    return raised


@shared_task(name="apps.risk.alerts.concentration_scan")
def concentration_scan_task() -> int:
    return len(concentration_scan())
