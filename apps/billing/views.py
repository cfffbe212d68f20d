"""The candidate's side of billing: the catalogue, checkout, the TEST payment page, the
provider's return pages, receipts, and the provider's webhook. Thin: parse, call, render."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseNotFound, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.models import TraderProfile
from apps.billing.forms import CheckoutForm
from apps.billing.models import Purchase
from apps.billing.providers.base import WebhookRejected
from apps.billing.selectors import catalogue, plan_for_checkout, purchase_of
from apps.billing.services import (
    BillingError,
    checkout_begin,
    checkout_confirm,
    checkout_quote,
    checkout_start,
    sandbox_complete,
    webhook_receive,
)
from apps.challenges.models_lifecycle import Challenge


@require_GET
def plans(request):
    return render(request, "billing/plans.html", {"rows": catalogue()})


def _plan_or_404(code: str):
    plan = plan_for_checkout(code)
    if plan is None:
        raise Http404("This plan is not on sale.")
    return plan


def _retry_of(request, raw) -> Challenge | None:
    if raw in (None, ""):
        return None
    try:
        pk = int(raw)
    except (TypeError, ValueError):
        raise Http404("no such challenge") from None
    challenge = Challenge.objects.filter(pk=pk, trader=request.user).select_related("plan").first()
    if challenge is None:
        raise Http404("no such challenge")
    return challenge


def _quote(request, plan, retry_of, code: str = ""):
    """(quote, error) for the summary beside the form."""
    try:
        return checkout_quote(
            buyer=request.user, plan=plan, discount_code=code, retry_of=retry_of
        ), ""
    except BillingError as exc:
        if code:
            try:
                base = checkout_quote(buyer=request.user, plan=plan, retry_of=retry_of)
            except BillingError:
                base = None
            return base, exc.message
        return None, exc.message


def _checkout_url(purchase: Purchase) -> str:
    url = reverse("billing:checkout", args=[purchase.plan.code])
    return f"{url}?retry={purchase.retry_of_id}" if purchase.retry_of_id else url


@login_required
def checkout(request, code: str):
    plan = _plan_or_404(code)
    retry_of = _retry_of(request, request.POST.get("retry") or request.GET.get("retry"))
    if request.method == "POST":
        form = CheckoutForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                purchase = checkout_start(
                    buyer=request.user,
                    plan=plan,
                    country=data["country"],
                    discount_code=data["discount_code"],
                    retry_of=retry_of,
                    idempotency_key=data["idempotency_key"],
                )
                if purchase.status == Purchase.Status.PAID:
                    return _paid_redirect(request, purchase)
                url = checkout_begin(
                    purchase=purchase,
                    success_url=request.build_absolute_uri(
                        reverse("billing:return", args=[purchase.ref])
                    ),
                    cancel_url=request.build_absolute_uri(
                        reverse("billing:cancelled", args=[purchase.ref])
                    ),
                )
                return redirect(url)
            except BillingError as exc:
                field = exc.field if exc.field in form.fields else None
                form.add_error(field, exc.message)
        # A refused form comes back with a fresh key: the refused one may have made a purchase.
        form.data = form.data.copy()
        form.data["idempotency_key"] = uuid.uuid4().hex
    else:
        profile = TraderProfile.objects.filter(user=request.user).first()
        form = CheckoutForm(
            initial={
                "country": profile.country.code if profile and profile.country else "",
                "idempotency_key": uuid.uuid4().hex,
                "retry": retry_of.pk if retry_of else None,
            }
        )
    code_text = form.data.get("discount_code", "") if form.is_bound else ""
    quote, quote_error = _quote(request, plan, retry_of, code_text)
    return render(
        request,
        "billing/checkout.html",
        {
            "plan": plan,
            "form": form,
            "quote": quote,
            "quote_error": quote_error,
            "retry_of": retry_of,
        },
    )


@login_required
@require_POST
def quote(request, code: str):
    """The price summary for the code typed so far (htmx)."""
    plan = _plan_or_404(code)
    retry_of = _retry_of(request, request.POST.get("retry"))
    found, error = _quote(request, plan, retry_of, request.POST.get("discount_code", ""))
    return render(
        request,
        "billing/_quote.html",
        {"plan": plan, "quote": found, "quote_error": error},
    )


def _own_purchase(request, ref: str) -> Purchase:
    purchase = purchase_of(request.user, ref)
    if purchase is None:
        raise Http404("no such purchase")
    return purchase


def _paid_redirect(request, purchase: Purchase):
    messages.success(
        request,
        f"Payment received: your {purchase.plan.name} has started. Receipt "
        f"{purchase.receipt_number} is in your e-mail.",
    )
    return redirect(reverse("portal:dashboard") + f"#challenge-{purchase.challenge_id}")


@login_required
def sandbox(request, ref: str):
    purchase = _own_purchase(request, ref)
    if request.method == "POST":
        try:
            purchase = sandbox_complete(purchase=purchase, outcome=request.POST.get("outcome", ""))
        except BillingError as exc:
            messages.error(request, exc.message)
            return redirect(_checkout_url(purchase))
        if purchase.status == Purchase.Status.PAID:
            return _paid_redirect(request, purchase)
        if purchase.status == Purchase.Status.FAILED:
            messages.error(
                request,
                f"Your payment failed: {purchase.failure_reason} Nothing was charged; you can "
                "try again.",
            )
            return redirect(_checkout_url(purchase))
        messages.info(request, "Checkout cancelled: nothing was charged.")
        return redirect(_checkout_url(purchase))
    if purchase.status == Purchase.Status.PAID:
        return redirect("portal:dashboard")
    if purchase.status != Purchase.Status.PENDING or purchase.provider != "sandbox":
        messages.error(
            request,
            f"This checkout is closed ({purchase.get_status_display().lower()}): nothing was "
            "charged. Start a new one.",
        )
        return redirect(_checkout_url(purchase))
    return render(request, "billing/sandbox.html", {"purchase": purchase})


@login_required
@require_GET
def provider_return(request, ref: str):
    purchase = checkout_confirm(purchase=_own_purchase(request, ref))
    if purchase.status == Purchase.Status.PAID:
        return _paid_redirect(request, purchase)
    if purchase.status == Purchase.Status.PENDING:
        return render(request, "billing/pending.html", {"purchase": purchase})
    messages.error(
        request,
        f"This checkout ended without a payment ({purchase.get_status_display().lower()}). "
        "Nothing was charged.",
    )
    return redirect(_checkout_url(purchase))


@login_required
@require_GET
def provider_cancelled(request, ref: str):
    purchase = _own_purchase(request, ref)
    messages.info(request, "Payment cancelled: nothing was charged.")
    return redirect(_checkout_url(purchase))


@login_required
@require_GET
def receipt(request, ref: str):
    purchase = _own_purchase(request, ref)
    if not purchase.receipt_number:
        raise Http404("no receipt: this purchase was not paid")
    return render(request, "billing/receipt.html", {"purchase": purchase})


@csrf_exempt
@require_POST
def webhook(request, provider: str):
    if provider != "stripe":
        return HttpResponseNotFound("no such webhook")
    try:
        record, duplicate = webhook_receive(
            provider=provider, payload=request.body, headers=request.headers
        )
    except WebhookRejected as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse(
        {"received": True, "duplicate": duplicate, "outcome": record.outcome}, status=200
    )
