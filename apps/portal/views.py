"""The trader's pages: the dashboard, the trading page and its htmx actions. Thin: parse,
call a selector or service, render."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from apps.challenges.selectors import account_rule_view, scenario_export
from apps.portal import selectors
from apps.portal.forms import TicketForm
from apps.portal.selectors import account_owned, default_trading_account, evaluated_of, trade_page
from apps.portal.services import (
    Ticket,
    TicketRefused,
    position_close,
    ticket_submit,
    trader_order_cancel,
)


def htmx_login_required(view):
    """Like login_required, but an htmx request whose session expired gets a message in the
    part of the page it was updating instead of a login page squeezed into it."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.user.is_authenticated:
            return view(request, *args, **kwargs)
        if request.headers.get("HX-Request"):
            login = reverse("account_login") + "?next=" + request.headers.get("HX-Current-URL", "")
            return render(request, "portal/_session_expired.html", {"login_url": login})
        return login_required(view)(request, *args, **kwargs)

    return wrapper


def _own_account(request, account_id: int):
    account = account_owned(request.user.pk, account_id)
    if account is None:
        raise Http404("no such account")
    return account


# --- dashboard -------------------------------------------------------------------------------


@login_required
@require_GET
def dashboard(request):
    return render(request, "portal/dashboard.html", selectors.dashboard(request.user))


@login_required
@require_GET
def scenario(request, account_id: int):
    evaluated = evaluated_of(_own_account(request, account_id))
    if evaluated is None:
        raise Http404("this account is not judged by a rule set")
    response = HttpResponse(
        json.dumps(scenario_export(evaluated), indent=2) + "\n", content_type="application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="account-{account_id}-scenario.json"'
    return response


# --- the trading page ------------------------------------------------------------------------


@login_required
@require_GET
def trade_default(request):
    account = default_trading_account(request.user)
    if account is None:
        return render(request, "portal/no_account.html")
    return redirect("portal:trade", account_id=account.pk)


@login_required
@require_GET
def trade(request, account_id: int):
    account = _own_account(request, account_id)
    context = trade_page(account, request.GET.get("coin"))
    context["idempotency_key"] = uuid.uuid4().hex
    context["ws_path"] = f"/ws/accounts/{account.pk}/"
    return render(request, "portal/trade.html", context)


@htmx_login_required
@require_GET
def breach(request, account_id: int):
    evaluated = evaluated_of(_own_account(request, account_id))
    view = account_rule_view(evaluated) if evaluated is not None else {}
    return render(
        request,
        "portal/_breach.html",
        {"breach": view.get("breach"), "account": evaluated, "trading_id": account_id},
    )


def _result(request, *, message: str, ok: bool, order_id: str = "", extra: list | None = None):
    return render(
        request,
        "portal/_ticket_result.html",
        {
            "message": message,
            "ok": ok,
            "order_id": order_id,
            "extra": extra or [],
            "next_key": uuid.uuid4().hex if ok else None,
        },
    )


def _describe(order, size: Decimal) -> str:
    price = ""
    if order.limit_price is not None:
        price += f" limit {order.limit_price.normalize():f}"
    if order.trigger_price is not None:
        price += f" trigger {order.trigger_price.normalize():f}"
    kind = order.get_kind_display().lower()
    return f"{order.side} {size.normalize():f} {order.coin} {kind}{price}"


@htmx_login_required
@require_POST
def order_new(request, account_id: int):
    account = _own_account(request, account_id)
    form = TicketForm(request.POST)
    if not form.is_valid():
        problems = [
            f"{form.fields[name].label or name}: {error}"
            for name, errors in form.errors.items()
            for error in errors
        ]
        return _result(request, message="Refused: " + " ".join(problems), ok=False)
    data = form.cleaned_data
    ticket = Ticket(
        coin=data["coin"],
        side=data["side"],
        kind=data["kind"],
        size=data["size"],
        unit=data["unit"],
        leverage=data["leverage"],
        limit_price=data["limit_price"],
        trigger_price=data["trigger_price"],
        take_profit=data["take_profit"],
        stop_loss=data["stop_loss"],
        reduce_only=data["reduce_only"],
        tif=data["tif"] or "gtc",
    )
    try:
        result = ticket_submit(
            account=account,
            ticket=ticket,
            idempotency_key=data["idempotency_key"],
            actor=request.user,
        )
    except TicketRefused as exc:
        return _result(request, message=f"Refused: {exc.message}", ok=False)
    extra = [f"{o.get_kind_display()} at {o.trigger_price.normalize():f}" for o in result.attached]
    return _result(
        request,
        message=f"Order accepted: {_describe(result.order, result.size)}.",
        ok=True,
        order_id=str(result.order.pk),
        extra=extra + result.attached_refusals,
    )


@htmx_login_required
@require_POST
def order_cancel(request, account_id: int, order_id):
    account = _own_account(request, account_id)
    try:
        order = trader_order_cancel(account=account, order_id=order_id, actor=request.user)
    except TicketRefused as exc:
        return _result(request, message=f"Refused: {exc.message}", ok=False)
    return _result(request, message=f"Cancelling {order.side} {order.coin} order.", ok=True)


@htmx_login_required
@require_POST
def position_close_view(request, account_id: int, coin: str):
    account = _own_account(request, account_id)
    key = request.POST.get("idempotency_key") or uuid.uuid4().hex
    try:
        order = position_close(
            account=account, coin=coin, idempotency_key=key[:64], actor=request.user
        )
    except TicketRefused as exc:
        return _result(request, message=f"Refused: {exc.message}", ok=False)
    return _result(
        request,
        message=f"Closing {coin}: {_describe(order, order.size)} (reduce-only).",
        ok=True,
        order_id=str(order.pk),
    )
