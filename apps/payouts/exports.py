"""Finance's exports: requested in the admin, built by a Celery worker with its progress
written as it goes, the file kept in the Export row (a BinaryField: no shared disk needed)
and downloaded from the admin once ready."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from django.db import transaction

from apps.accounts.models import User
from apps.core import clock
from apps.core.services import audit_record
from apps.payouts.models import Export
from apps.payouts.reports.register import register_csv, register_xlsx
from apps.payouts.reports.statement import statement_pdf
from apps.payouts.reports.tax import tax_csv, tax_pdf
from apps.payouts.services import PayoutError

log = logging.getLogger(__name__)
EXPORT_PERMISSION = "payouts.add_export"
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
MAX_DAYS = 366


def _date(params: dict[str, Any], name: str) -> date:
    try:
        return date.fromisoformat(str(params.get(name, "")))
    except ValueError:
        raise PayoutError(f"“{name}” must be a date like 2026-03-01.", code=name) from None


def _trader(params: dict[str, Any]) -> User:
    trader = User.objects.filter(pk=params.get("trader")).first()
    if trader is None:
        raise PayoutError("Choose the trader the report is for.", code="trader")
    return trader


def export_params(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """The export's parameters, checked and in their stored form."""
    if kind not in Export.Kind.values:
        raise PayoutError(f"Unknown export {kind!r}.", code="kind")
    clean: dict[str, Any] = {}
    if kind.startswith(("register", "statement")):
        date_from, date_to = _date(params, "date_from"), _date(params, "date_to")
        if date_to < date_from:
            raise PayoutError("The period ends before it starts.", code="date_to")
        if (date_to - date_from).days >= MAX_DAYS:
            raise PayoutError("A report covers at most a year: split it.", code="date_to")
        clean |= {"date_from": date_from.isoformat(), "date_to": date_to.isoformat()}
    if kind.startswith(("statement", "tax")):
        clean["trader"] = _trader(params).pk
    if kind.startswith("tax"):
        year = params.get("year")
        if not isinstance(year, int) or not 2000 <= year <= 2100:
            raise PayoutError("The tax summary needs a year, like 2026.", code="year")
        clean["year"] = year
    return clean


@transaction.atomic
def export_request(*, kind: str, params: dict[str, Any], actor: User) -> Export:
    """Queue an export for a worker; the admin shows its progress and, when ready, its link."""
    if not actor.is_active or not actor.has_perm(EXPORT_PERMISSION):
        raise PayoutError("Only finance can export payout reports.", code="forbidden")
    export = Export.objects.create(
        kind=kind, params=export_params(kind, params), requested_by=actor
    )
    audit_record(
        action="payout.export_request",
        subject=export,
        actor=actor,
        after={"kind": kind, "params": export.params},
    )
    from apps.payouts.tasks import export_build_task

    transaction.on_commit(lambda: export_build_task.delay(export.pk))
    return export


def _filename(export: Export, extension: str) -> str:
    p = export.params
    if export.kind.startswith("register"):
        return f"payout-register-{p['date_from']}-to-{p['date_to']}.{extension}"
    if export.kind.startswith("statement"):
        return f"payout-statement-{p['trader']}-{p['date_from']}-to-{p['date_to']}.{extension}"
    return f"tax-summary-{p['trader']}-{p['year']}.{extension}"


def _build(export: Export, progress) -> tuple[bytes, int]:
    p = export.params
    kind = export.kind
    if kind == Export.Kind.REGISTER_CSV:
        return register_csv(
            date.fromisoformat(p["date_from"]), date.fromisoformat(p["date_to"]), progress
        )
    if kind == Export.Kind.REGISTER_XLSX:
        return register_xlsx(
            date.fromisoformat(p["date_from"]), date.fromisoformat(p["date_to"]), progress
        )
    trader = User.objects.get(pk=p["trader"])
    if kind == Export.Kind.STATEMENT_PDF:
        return statement_pdf(
            trader, date.fromisoformat(p["date_from"]), date.fromisoformat(p["date_to"]), progress
        )
    if kind == Export.Kind.TAX_CSV:
        return tax_csv(trader, p["year"], progress)
    return tax_pdf(trader, p["year"], progress)


def export_build(*, export_id: int) -> Export:
    """Build one export (a worker's job). Claimed by compare-and-set, so a redelivered task
    never builds it twice at once; progress is committed as it goes, outside any transaction,
    so the admin sees it move."""
    claimed = Export.objects.filter(pk=export_id, status=Export.Status.PENDING).update(
        status=Export.Status.RUNNING
    )
    export = Export.objects.get(pk=export_id)
    if not claimed:
        return export

    def progress(done: int, total: int) -> None:
        percent = 100 if total == 0 else min(99, done * 100 // total)
        Export.objects.filter(pk=export_id).update(progress=percent, rows=done)

    try:
        content, rows = _build(export, progress)
    except Exception as exc:
        log.exception("export %s failed", export_id)
        Export.objects.filter(pk=export_id).update(
            status=Export.Status.FAILED, error=str(exc)[:2000], finished_at=clock.now()
        )
        return Export.objects.get(pk=export_id)
    extension = export.kind.rsplit("_", 1)[1]
    Export.objects.filter(pk=export_id).update(
        status=Export.Status.DONE,
        progress=100,
        rows=rows,
        content=content,
        filename=_filename(export, extension),
        content_type=CONTENT_TYPES[extension],
        finished_at=clock.now(),
    )
    return Export.objects.get(pk=export_id)
