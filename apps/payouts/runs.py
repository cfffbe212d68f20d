"""The payout run: every funded account of a frequency, for the period just ended, in chunks.

Each chunk is one transaction: the chunk's terms rows locked in key order, its payouts
written (requested, or held with the reason), the run's cursor and counts moved and one
audit event, together. A crash loses at most the chunk in flight, and running the same
run again resumes after the last committed chunk; a payout is made at most once per account
and period (the run skips an account with any payout of the period, and a partial unique
index refuses a second payout in flight). A lease (compare-and-set) keeps a second worker
off a run that is in progress.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Q

from apps.challenges.models_lifecycle import EvaluatedAccount
from apps.core import clock
from apps.core.services import audit_record
from apps.payouts import calc
from apps.payouts.models import FundedTerms, Payout, PayoutRun
from apps.payouts.selectors import funded_terms_preview, open_positions, payout_facts
from apps.payouts.services import PayoutError, payout_from

CHUNK = 500
LEASE = timedelta(minutes=5)


def _candidates(frequency: str) -> Q:
    """Active funded accounts whose terms (pinned or still to pin) may have this frequency."""
    return Q(stage=EvaluatedAccount.Stage.FUNDED, status=EvaluatedAccount.Status.ACTIVE) & (
        Q(funded_terms__payout_frequency=frequency)
        | Q(funded_terms__isnull=True, challenge__plan__payout_frequency=frequency)
        | Q(funded_terms__isnull=True, challenge__isnull=True)
    )


def _claim(run: PayoutRun, now: datetime) -> bool:
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    claimed = PayoutRun.objects.filter(free, pk=run.pk, status=PayoutRun.Status.RUNNING).update(
        lease_until=now + LEASE
    )
    return claimed == 1


def payout_run(
    *,
    frequency: str,
    period: calc.Period | None = None,
    now: datetime | None = None,
    chunk: int = CHUNK,
    force: bool = False,
) -> PayoutRun:
    """Run (or resume) the payout run of `frequency` for `period` (the period just ended, by
    default). A finished run is left as it is unless `force`, which passes over every account
    again and makes only what is missing."""
    if frequency not in calc.RUN_FREQUENCIES:
        raise PayoutError(f"There is no payout run for {frequency!r} accounts.")
    now = now or clock.now()
    period = period or calc.previous_period(frequency, now)
    total = EvaluatedAccount.objects.filter(_candidates(frequency)).count()
    run, created = PayoutRun.objects.get_or_create(
        frequency=frequency, period=period.label, defaults={"total": total, "started_at": now}
    )
    if run.status == PayoutRun.Status.DONE:
        if not force:
            return run
        PayoutRun.objects.filter(pk=run.pk, status=PayoutRun.Status.DONE).update(
            status=PayoutRun.Status.RUNNING, cursor=0, processed=0, total=total, finished_at=None
        )
    if not _claim(run, clock.now()):
        run.refresh_from_db()
        return run  # another worker holds it; it will finish it
    with transaction.atomic():
        run = PayoutRun.objects.select_for_update().get(pk=run.pk)
        run.passes += 1
        run.save(update_fields=["passes"])
        audit_record(
            action="payout_run.start",
            subject=run,
            after={"frequency": frequency, "period": period.label, "from": run.cursor},
        )
    while True:
        ids = list(
            EvaluatedAccount.objects.filter(_candidates(frequency), pk__gt=run.cursor)
            .order_by("pk")
            .values_list("pk", flat=True)[:chunk]
        )
        if not ids:
            break
        run = _run_chunk(run_id=run.pk, ids=ids, period=period, now=now)
    with transaction.atomic():
        run = PayoutRun.objects.select_for_update().get(pk=run.pk)
        run.status, run.finished_at, run.lease_until = PayoutRun.Status.DONE, clock.now(), None
        run.save(update_fields=["status", "finished_at", "lease_until"])
        audit_record(
            action="payout_run.finish",
            subject=run,
            after={"processed": run.processed, "requested": run.requested, "held": run.held},
        )
    return run


@transaction.atomic
def _run_chunk(*, run_id: int, ids: list[int], period: calc.Period, now: datetime) -> PayoutRun:
    run = PayoutRun.objects.select_for_update().get(pk=run_id)
    accounts = list(
        EvaluatedAccount.objects.filter(pk__in=ids)
        .select_related("trading_account", "trader__trader_profile", "challenge__plan")
        .order_by("pk")
    )
    pinned = set(
        FundedTerms.objects.filter(account_id__in=ids).values_list("account_id", flat=True)
    )
    missing = [a for a in accounts if a.pk not in pinned]
    if missing:
        FundedTerms.objects.bulk_create(
            [funded_terms_preview(a) for a in missing], ignore_conflicts=True
        )
        audit_record(
            action="payout_run.terms_pin", subject=run, after={"accounts": [a.pk for a in missing]}
        )
    # Locked in key order, like every writer of terms: a request or an approval of one of
    # these accounts waits for this chunk, and this chunk for it.
    terms = {
        t.account_id: t
        for t in FundedTerms.objects.select_for_update().filter(account_id__in=ids).order_by("pk")
    }
    done = set(
        Payout.objects.filter(account_id__in=ids, period=period.label).values_list(
            "account_id", flat=True
        )
    )
    positions = open_positions(a.trading_account_id for a in accounts)
    made: list[Payout] = []
    for account in accounts:
        account_terms = terms[account.pk]
        if account_terms.payout_frequency != run.frequency or account.pk in done:
            continue
        facts = payout_facts(
            account=account,
            terms=account_terms,
            period=period,
            positions=positions.get(account.trading_account_id, ()),
            period_taken="",
        )
        figures, problems = calc.assess(facts, now=now, period=period)
        if any(not p.hold for p in problems):
            continue  # nothing to pay this period (waiting, below the minimum, in a loss)
        held = [p for p in problems if p.hold]
        made.append(
            payout_from(
                account=account,
                period=period,
                figures=figures,
                origin=Payout.Origin.RUN,
                status=Payout.Status.HELD if held else Payout.Status.REQUESTED,
                reason=" ".join(p.message for p in held),
                destination=facts.destination,
                run_id=run.pk,
                now=now,
                currency=account_terms.currency,
            )
        )
    Payout.objects.bulk_create(made)
    requested = [p for p in made if p.status == Payout.Status.REQUESTED]
    run.cursor = ids[-1]
    run.processed += len(ids)
    run.requested += len(requested)
    run.held += len(made) - len(requested)
    run.lease_until = clock.now() + LEASE
    run.save(update_fields=["cursor", "processed", "requested", "held", "lease_until"])
    audit_record(
        action="payout_run.chunk",
        subject=run,
        after={
            "accounts": [ids[0], ids[-1]],
            "payouts": [[p.pk, p.account_id, p.status, p.gross_profit] for p in made],
            "gross_total": sum((p.gross_profit for p in requested), Decimal("0")),
        },
    )
    return run


def payout_runs_due(*, now: datetime | None = None) -> list[PayoutRun]:
    """Run (or finish) the run of every frequency for the period just ended: what the beat
    calls every hour; a finished run is a no-op, an interrupted one resumes."""
    return [payout_run(frequency=f, now=now) for f in calc.RUN_FREQUENCIES]
