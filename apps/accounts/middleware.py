from __future__ import annotations

from urllib.parse import urlencode

from django.shortcuts import redirect
from django.urls import reverse

from apps.accounts.selectors import staff_mfa_state


class StaffMFARequiredMiddleware:
    """The admin opens only to staff who set up two-factor authentication and used it to sign
    in. Without it they are sent to set it up (or to confirm a code), never into the admin."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        admin_prefix = reverse("admin:index")
        user = getattr(request, "user", None)
        if (
            request.path.startswith(admin_prefix)
            and user
            and user.is_authenticated
            and user.is_staff
        ):
            state = staff_mfa_state(request)
            if state == "not_enrolled":
                return redirect("staff_mfa_required")
            if state == "not_verified":
                query = urlencode({"next": request.get_full_path()})
                return redirect(f"{reverse('mfa_reauthenticate')}?{query}")
        return self.get_response(request)
