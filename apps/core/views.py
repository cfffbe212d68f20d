from __future__ import annotations

from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.core import clock
from apps.core.health import check_all


@never_cache
@require_GET
def healthz(request):
    checks = check_all()
    healthy = all(c["ok"] for c in checks.values())
    # The shared clock lives in Redis (development and tests): no time when Redis is down.
    served_at = clock.now().isoformat() if checks["redis"]["ok"] else None
    body = {"status": "ok" if healthy else "down", "time": served_at, "checks": checks}
    return JsonResponse(body, status=200 if healthy else 503)
