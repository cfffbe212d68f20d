from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin
from django.shortcuts import redirect, render
from django.urls import reverse

from apps.accounts.selectors import brand_get, staff_mfa_state


class PropfirmAdminSite(admin.AdminSite):
    """The admin in the firm's brand, signed in to through allauth (so two-factor applies)."""

    def each_context(self, request):
        brand = brand_get()
        self.site_header = f"{brand.name} administration"
        self.site_title = f"{brand.name} admin"
        self.index_title = "Firm administration"
        return super().each_context(request)

    def has_permission(self, request):
        # The middleware redirects staff without two-factor; this refuses them even without it.
        return super().has_permission(request) and staff_mfa_state(request) == "ok"

    def login(self, request, extra_context=None):
        next_url = request.GET.get("next") or reverse("admin:index")
        if request.user.is_authenticated:
            if request.user.is_staff:
                return redirect(next_url)
            # Sending a signed-in trader to the login page would bounce them straight back.
            return render(request, "accounts/no_admin_access.html", status=403)
        return redirect(f"{reverse('account_login')}?{urlencode({'next': next_url})}")
