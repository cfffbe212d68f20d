from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from apps.accounts.forms import ProfileForm
from apps.accounts.models import ApiKey, TraderProfile
from apps.accounts.selectors import brand_logo, user_has_totp
from apps.accounts.services import AccountsError, api_key_create, api_key_revoke, profile_update


@require_GET
def home(request):
    return render(request, "home.html")


@login_required
def profile(request):
    instance = TraderProfile.objects.filter(user=request.user).first() or TraderProfile(
        user=request.user
    )
    form = ProfileForm(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        try:
            profile_update(
                user=request.user, data={f: form.cleaned_data[f] for f in ProfileForm.Meta.fields}
            )
        except (AccountsError, ValidationError) as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, "Your profile was saved.")
            return redirect("profile")
    return render(request, "accounts/profile.html", {"form": form, "profile": instance})


@login_required
def staff_mfa_required(request):
    if not request.user.is_staff or user_has_totp(request.user):
        return redirect("admin:index" if request.user.is_staff else "home")
    return render(request, "accounts/staff_mfa_required.html", status=403)


@require_GET
def logo(request):
    found = brand_logo()
    if found is None:
        raise Http404("no logo")
    data, content_type = found
    response = HttpResponse(data, content_type=content_type)
    response["Cache-Control"] = "public, max-age=300"
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


@login_required
def api_keys(request):
    """A trader's API keys: create (the key is shown once), list, revoke."""
    created = None
    if request.method == "POST" and request.POST.get("action") == "create":
        try:
            key, raw = api_key_create(
                user=request.user,
                name=request.POST.get("name", ""),
                scope=request.POST.get("scope", ApiKey.Scope.TRADING),
            )
        except AccountsError as exc:
            messages.error(request, str(exc))
        else:
            created = {"key": key, "raw": raw}
    elif request.method == "POST" and request.POST.get("action") == "revoke":
        key = ApiKey.objects.filter(user=request.user, pk=request.POST.get("key")).first()
        if key is None:
            messages.error(request, "No such key.")
        else:
            api_key_revoke(key=key, actor=request.user)
            messages.success(request, f"Revoked {key.name} ({key.prefix}…).")
        return redirect("api_keys")
    keys = ApiKey.objects.filter(user=request.user)
    return render(
        request,
        "accounts/api_keys.html",
        {"keys": keys, "created": created, "scopes": ApiKey.Scope.choices},
    )
