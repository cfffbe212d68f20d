"""The risk managers' pages in the admin: the live firm dashboard (/admin/risk/dashboard/) and
one account's interventions (/admin/risk/account/<id>/). Both need the risk permission; the
forms call the services in interventions.py and overrides.py, which audit them."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path

from apps.challenges.models_lifecycle import JournalEntry
from apps.risk.alerts import alert_json
from apps.risk.consumers import DASHBOARD_PERMISSION
from apps.risk.interventions import (
    account_limit_reduce,
    account_positions_close,
    account_state_intervene,
)
from apps.risk.models import LIMIT_CHOICES, Alert, OverrideRequest
from apps.risk.overrides import override_approve, override_request
from apps.risk.selectors import firm_exposure
from apps.risk.services import RiskError
from apps.trading import market_view
from apps.trading.models import Position, TradingAccount, TradingState, Venue

ZERO = Decimal(0)


def _firm_aggregate() -> dict[str, Any] | None:
    """The risk engine's latest firm aggregate, when an engine is running."""
    try:
        from apps.risk.engine.aggregate import firm_aggregate_latest

        found = firm_aggregate_latest()
    except Exception:  # no engine module, or Redis unreachable: the page still shows the books
        return None
    return found if found and found.get("shards") else None


def dashboard_context() -> dict[str, Any]:
    quotes = market_view.quotes()
    rows = []
    margin: dict[int, Decimal] = {}
    upnl: dict[int, Decimal] = {}
    positions = (
        Position.objects.exclude(size=0)
        .select_related("account__owner")
        .order_by("account__owner__email", "account_id", "coin")
    )
    for p in positions:
        quote = quotes.get(p.coin)
        mark = quote.mark if quote is not None else p.entry_price
        notional = abs(p.size) * mark
        pnl = p.size * (mark - p.entry_price)
        margin[p.account_id] = margin.get(p.account_id, ZERO) + notional / max(p.leverage, 1)
        upnl[p.account_id] = upnl.get(p.account_id, ZERO) + pnl
        rows.append(
            {
                "trader": p.account.owner.email,
                "account": p.account,
                "simulated": p.account.venue == Venue.PAPER,
                "coin": p.coin,
                "size": p.size,
                "entry": p.entry_price,
                "mark": mark,
                "notional": notional,
                "pnl": pnl,
            }
        )
    accounts = TradingAccount.objects.filter(pk__in=margin.keys())
    for account in accounts:
        equity = account.balance + upnl.get(account.pk, ZERO)
        use = margin[account.pk] * 100 / equity if equity > 0 else None
        for row in rows:
            if row["account"].pk == account.pk:
                row["margin_use"] = use
    aggregate = _firm_aggregate()
    exposure = [
        {
            "coin": e.coin,
            "real_net": e.real_net,
            "real_dir": "long" if e.real_net > 0 else "short" if e.real_net < 0 else "flat",
            "sim_net": e.simulated_net,
            "sim_dir": "long"
            if e.simulated_net > 0
            else "short"
            if e.simulated_net < 0
            else "flat",
        }
        for e in firm_exposure().values()
    ]
    return {
        "positions": rows,
        "exposure": exposure,
        "aggregate": aggregate,
        "unrealized_total": sum(upnl.values(), ZERO),
        "alerts": [alert_json(a) for a in Alert.objects.filter(acknowledged_at__isnull=True)[:50]],
    }


def _require_risk(request: HttpRequest) -> None:
    if not request.user.has_perm(DASHBOARD_PERMISSION):
        raise PermissionDenied("Only a risk manager may open the risk pages.")


def dashboard_view(request: HttpRequest, site) -> HttpResponse:
    _require_risk(request)
    context = {**site.each_context(request), "title": "Firm risk (live)", **dashboard_context()}
    return render(request, "admin/risk/dashboard.html", context)


class StateForm(forms.Form):
    state = forms.ChoiceField(
        choices=[
            (TradingState.REDUCING, "Reducing only"),
            (TradingState.SUSPENDED, "Suspend"),
            (TradingState.HALTED, "Halt"),
            (TradingState.ACTIVE, "Lift (back to active)"),
        ]
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))


class LimitForm(forms.Form):
    field = forms.ChoiceField(choices=LIMIT_CHOICES)
    value = forms.CharField()
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))


class CloseForm(forms.Form):
    coins = forms.CharField(required=False, help_text="Coins separated by commas; empty: all.")
    percent = forms.DecimalField(min_value=Decimal("0.01"), max_value=100, initial=100)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    key = forms.CharField(widget=forms.HiddenInput)


class OverrideForm(forms.Form):
    voided_seqs = forms.CharField(label="Journal events to void (seq)")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))


def _valid(form: forms.Form) -> dict[str, Any]:
    if not form.is_valid():
        problems = "; ".join(f"{name}: {errors[0]}" for name, errors in form.errors.items())
        raise RiskError(f"Check the form: {problems}")
    return form.cleaned_data


def _act(request: HttpRequest, account: TradingAccount) -> str:
    """Run the posted intervention; return what to tell the risk manager."""
    action, user, data = request.POST.get("action"), request.user, request.POST
    if action == "state":
        account_state_intervene(account=account, actor=user, **_valid(StateForm(data)))
        return "Trading state changed: it holds from the next order."
    if action == "limit":
        account_limit_reduce(account=account, actor=user, **_valid(LimitForm(data)))
        return "Limit set: it holds from the next order."
    if action == "close":
        cleaned = _valid(CloseForm(data))
        names = [c.strip() for c in cleaned["coins"].split(",") if c.strip()]
        account_positions_close(
            account=account,
            coins=names or None,
            reason=cleaned["reason"],
            actor=user,
            key=cleaned["key"],
            fraction=cleaned["percent"] / 100,
        )
        return "Closing orders sent."
    if action == "override":
        override_request(account=account, actor=user, **_valid(OverrideForm(data)))
        return "Override requested: a second risk manager must approve it."
    if action == "approve":
        found = get_object_or_404(OverrideRequest, pk=data.get("request"), account=account)
        override_approve(request=found, actor=user, note=data.get("note", ""))
        return "Override approved: the account is reinstated."
    raise RiskError("Unknown action.")


def account_view(request: HttpRequest, account_id: int, site) -> HttpResponse:
    _require_risk(request)
    account = get_object_or_404(TradingAccount.objects.select_related("owner"), pk=account_id)
    if request.method == "POST":
        try:
            messages.success(request, _act(request, account))
        except RiskError as exc:
            messages.error(request, exc.message)
        return redirect(request.path)
    evaluation = getattr(account, "evaluation", None)
    journal = (
        JournalEntry.objects.filter(account=evaluation).order_by("-seq")[:40]
        if evaluation is not None
        else []
    )
    context = {
        **site.each_context(request),
        "title": f"Risk: account #{account.pk}",
        "account": account,
        "positions": Position.objects.filter(account=account).exclude(size=0),
        "evaluation": evaluation,
        "journal": journal,
        "requests": OverrideRequest.objects.filter(account=account).select_related(
            "requested_by", "decided_by"
        )[:20],
        "state_form": StateForm(),
        "limit_form": LimitForm(),
        "close_form": CloseForm(initial={"key": uuid.uuid4().hex}),
        "override_form": OverrideForm(),
    }
    return render(request, "admin/risk/account.html", context)


def install_admin_urls(site) -> None:
    """Put the risk pages in front of the admin's own URLs (risk/ is this app's index)."""
    original = site.get_urls

    def get_urls():
        return [
            path(
                "risk/dashboard/",
                site.admin_view(lambda r: dashboard_view(r, site)),
                name="risk_dashboard",
            ),
            path(
                "risk/account/<int:account_id>/",
                site.admin_view(lambda r, account_id: account_view(r, account_id, site)),
                name="risk_account",
            ),
            *original(),
        ]

    site.get_urls = get_urls
