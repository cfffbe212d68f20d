"""Four eyes: lifting a breach's HALT.

One risk manager requests an override of a halted account, naming the journal events it voids
(a bad price, a venue error) and why. A second risk manager approves it; nobody approves their
own. Approval replays the account's history (`scenario_export`) without the voided events
through the rules engine (`replay(parse_scenario(...))`):

- the replay no longer breaches: the evaluated account is active again from the replayed
  checkpoint, the voided journal entries are flagged, trading is ACTIVE again (the one caller
  of `account_set_state(..., override=True)`), the challenge back in evaluation or funded;
- it still breaches: the approval is refused with the replay's verdict, the account stays
  halted.

Either way the voided events and both verdicts (with and without them) are in the audit log.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction

from apps.accounts.models import User
from apps.challenges.models_lifecycle import Challenge, EvaluatedAccount, JournalEntry
from apps.challenges.rules import Engine, parse_scenario, replay
from apps.challenges.selectors import scenario_export
from apps.core import clock
from apps.core.services import audit_record
from apps.risk.interventions import INTERVENE_PERMISSION
from apps.risk.models import OverrideRequest
from apps.risk.services import RiskError, _require, _require_reason
from apps.trading.models import TradingAccount, TradingState
from apps.trading.services import account_set_state

APPROVE_PERMISSION = "risk.approve_override"
BREACHED = ("failed", "expired")


class OverrideRefused(RiskError):
    """The replay without the voided events still breaches: the account stays halted."""


def _verdict(result: dict[str, Any]) -> dict[str, Any]:
    keys = ("status", "reason", "decided_at", "balance", "equity", "daily_floor", "max_loss_floor")
    return {k: result.get(k) for k in keys}


def _without(evaluated: EvaluatedAccount, voided: set[int]) -> tuple[dict, dict]:
    """(the scenario as exported, the same scenario minus the voided journal events)."""
    document = scenario_export(evaluated)
    # scenario_export lists the unvoided journal entries first, in seq order, then any
    # unjournaled mark and the end: pair the first ones with their seqs.
    seqs = list(
        evaluated.journal.filter(voided=False).order_by("seq").values_list("seq", flat=True)
    )
    events = document["events"]
    kept = [e for seq, e in zip(seqs, events, strict=False) if seq not in voided]
    kept += events[len(seqs) :]
    return document, {**document, "events": kept}


def _parse_seqs(value: object) -> list[int]:
    if isinstance(value, str):
        value = [part for part in value.replace(",", " ").split() if part]
    try:
        seqs = sorted({int(v) for v in (value or [])})
    except (TypeError, ValueError):
        raise RiskError(
            "Name the voided events by their journal numbers (seq), e.g. 12, 13.",
            field="voided_seqs",
        ) from None
    if not seqs:
        raise RiskError("Name at least one journal event to void.", field="voided_seqs")
    return seqs


@transaction.atomic
def override_request(
    *, account: TradingAccount, voided_seqs: object, reason: str, actor: User | None
) -> OverrideRequest:
    """Ask a second risk manager to lift a halted account's breach, voiding these events."""
    _require(actor, INTERVENE_PERMISSION, "request an override")
    reason = _require_reason(reason)
    seqs = _parse_seqs(voided_seqs)
    account = TradingAccount.objects.select_for_update().get(pk=account.pk)
    if account.state != TradingState.HALTED:
        raise RiskError(
            "Only a halted account needs an override; this one is "
            f"{account.get_state_display().lower()}.",
            code="not_halted",
        )
    evaluated = EvaluatedAccount.objects.filter(trading_account=account).first()
    if evaluated is None:
        raise RiskError("This account has no rule state to replay.", code="no_evaluation")
    found = set(
        JournalEntry.objects.filter(account=evaluated, seq__in=seqs, voided=False).values_list(
            "seq", flat=True
        )
    )
    missing = [s for s in seqs if s not in found]
    if missing:
        raise RiskError(
            f"This account's journal has no event {missing[0]} to void.", field="voided_seqs"
        )
    if OverrideRequest.objects.filter(account=account, status="pending").exists():
        raise RiskError(
            "An override of this account is waiting for approval already.", code="pending"
        )
    request = OverrideRequest.objects.create(
        account=account, voided_seqs=seqs, reason=reason, requested_by=actor
    )
    audit_record(
        action="risk.override.request",
        subject=account,
        actor=actor,
        after={"request": request.pk, "voided_seqs": seqs, "reason": reason},
    )
    return request


def override_approve(*, request: OverrideRequest, actor: User | None, note: str = "") -> Any:
    """Approve another risk manager's override: reinstate the account if the replay without the
    voided events no longer breaches; else record the refusal and raise OverrideRefused."""
    decided = _decide(request=request, actor=actor, note=note)
    if decided.status == OverrideRequest.Status.REFUSED:
        raise OverrideRefused(decided.decision_note, code="still_breaches")
    return decided


def _reinstate(evaluated: EvaluatedAccount, scenario_text: str) -> None:
    scenario = parse_scenario(scenario_text)
    engine = Engine(scenario.rules, scenario.account)
    for event in scenario.events:
        engine.apply(event)
    evaluated.status = EvaluatedAccount.Status.ACTIVE
    evaluated.reason, evaluated.decided_at = "", None
    evaluated.closed_at, evaluated.close_reason = None, ""
    evaluated.checkpoint = engine.checkpoint()
    evaluated.evaluated_at = clock.now()
    evaluated.save(
        update_fields=[
            "status",
            "reason",
            "decided_at",
            "closed_at",
            "close_reason",
            "checkpoint",
            "evaluated_at",
        ]
    )
    challenge = evaluated.challenge
    if challenge is not None and challenge.status == Challenge.Status.FAILED:
        funded = evaluated.stage == EvaluatedAccount.Stage.FUNDED
        challenge.status = Challenge.Status.FUNDED if funded else Challenge.Status.ACTIVE
        challenge.ended_at, challenge.end_reason, challenge.retry_discount_pct = None, "", None
        challenge.save(update_fields=["status", "ended_at", "end_reason", "retry_discount_pct"])


@transaction.atomic
def _decide(*, request: OverrideRequest, actor: User | None, note: str) -> OverrideRequest:
    _require(actor, APPROVE_PERMISSION, "approve an override")
    request = OverrideRequest.objects.select_for_update().get(pk=request.pk)
    if request.requested_by_id == actor.pk:
        raise RiskError(
            "You requested this override: a second risk manager must approve it (four eyes).",
            code="own_request",
        )
    if request.status != OverrideRequest.Status.PENDING:
        raise RiskError(
            f"This override is {request.get_status_display().lower()} already.", code="decided"
        )
    account = TradingAccount.objects.select_for_update().get(pk=request.account_id)
    evaluated = (
        EvaluatedAccount.objects.select_for_update(of=("self",))
        .select_related("trading_account", "challenge")
        .get(trading_account=account)
    )
    voided = set(request.voided_seqs)
    document, replayed_doc = _without(evaluated, voided)
    before = _verdict(replay(parse_scenario(json.dumps(document))))
    replayed_text = json.dumps(replayed_doc)
    after = _verdict(replay(parse_scenario(replayed_text)))
    voided_events = list(
        JournalEntry.objects.filter(account=evaluated, seq__in=voided)
        .order_by("seq")
        .values("seq", "event")
    )
    request.decided_by, request.decided_at = actor, clock.now()
    request.verdict_before, request.verdict_after = before, after
    if after["status"] in BREACHED:
        request.status = OverrideRequest.Status.REFUSED
        request.decision_note = (
            f"Refused: without the voided events the account still breaches "
            f"({after['reason']} at {after['decided_at']}; equity {after['equity']}). "
            "It stays halted."
        )
    else:
        request.status = OverrideRequest.Status.APPROVED
        request.decision_note = (note or "").strip() or "Approved: the replay no longer breaches."
        _reinstate(evaluated, replayed_text)
        JournalEntry.objects.filter(account=evaluated, seq__in=voided).update(voided=True)
        account_set_state(
            account=account,
            state=TradingState.ACTIVE,
            reason=f"Reinstated by override #{request.pk}: {request.reason}",
            actor=actor,
            override=True,
        )
    request.save()
    audit_record(
        action=f"risk.override.{request.status}",
        subject=account,
        actor=actor,
        before={"verdict": before},
        after={
            "request": request.pk,
            "requested_by": request.requested_by_id,
            "voided": voided_events,
            "verdict": after,
            "reason": request.reason,
            "note": request.decision_note,
        },
    )
    return request
