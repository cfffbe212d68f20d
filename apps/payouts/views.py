"""The trader's payouts page, their payout request, and finance's export downloads."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.selectors import staff_mfa_state
from apps.challenges.models_lifecycle import EvaluatedAccount
from apps.payouts.models import Export
from apps.payouts.selectors import payout_summary
from apps.payouts.services import PayoutError, payout_request


@login_required
@require_GET
def payouts_page(request):
    return render(request, "payouts/payouts.html", {"accounts": payout_summary(request.user)})


@login_required
@require_POST
def payout_request_view(request, account_id: int):
    account = get_object_or_404(
        EvaluatedAccount, pk=account_id, trader=request.user, stage=EvaluatedAccount.Stage.FUNDED
    )
    try:
        payout = payout_request(account=account, actor=request.user)
    except PayoutError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"Payout requested: {payout.amount:,} {payout.currency} for {payout.period}. "
            "Finance reviews it next.",
        )
    return redirect("payouts")


@login_required
@require_GET
def export_download(request, export_id: int):
    user = request.user
    # Same bar as the admin: staff with the permission, signed in with two-factor.
    if not (user.is_staff and user.has_perm("payouts.view_export")):
        raise PermissionDenied("Only finance can download payout reports.")
    if staff_mfa_state(request) != "ok":
        raise PermissionDenied("Sign in with two-factor authentication first.")
    export = get_object_or_404(Export, pk=export_id)
    if export.status != Export.Status.DONE or export.content is None:
        raise Http404("This export is not ready.")
    response = HttpResponse(bytes(export.content), content_type=export.content_type)
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response["Cache-Control"] = "private, no-store"
    return response
