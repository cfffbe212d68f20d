"""REST API authentication by API key (`Authorization: Bearer <key>`), scopes and rate limits."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions, permissions, throttling
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from apps.accounts.models import ApiKey, User
from apps.accounts.services import api_key_digest
from apps.core import clock, rows
from apps.core.redis import get_redis


class ApiKeyAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Send the key as 'Authorization: Bearer <key>', with nothing else."
            )
        raw = header[1].decode(errors="replace")
        key = _key_with_user(api_key_digest(raw))
        if key is None:
            raise exceptions.AuthenticationFailed("This API key is not valid.")
        if key.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This API key was revoked.")
        now = clock.now()
        if key.expires_at is not None and key.expires_at <= now:
            raise exceptions.AuthenticationFailed("This API key has expired.")
        if not key.user.is_active:
            raise exceptions.AuthenticationFailed("This account is disabled.")
        if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        return key.user, key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


def _key_with_user(digest: str) -> ApiKey | None:
    """The key and its user in one query, with SQL built once (asked on every API request)."""
    quote = connection.ops.quote_name
    (found,) = rows.run(
        [
            (
                f"SELECT {rows.columns(ApiKey, 'k')}, {rows.columns(User, 'u')} "
                f"FROM {quote(ApiKey._meta.db_table)} k "
                f"JOIN {quote(User._meta.db_table)} u ON u.id = k.user_id WHERE k.digest = %s",
                [digest],
            )
        ]
    )
    if not found:
        return None
    row = found[0]
    split = rows.width(ApiKey)
    key = rows.instance(ApiKey, row[:split])
    key.user = rows.instance(User, row[split:])
    return key


class TradingScopeForWrites(permissions.BasePermission):
    message = "This API key is read-only: create a trading key to place or change orders."

    def has_permission(self, request, view):
        if request.method in permissions.SAFE_METHODS:
            return True
        key = request.auth
        return not isinstance(key, ApiKey) or key.scope == ApiKey.Scope.TRADING


class ApiKeyRateThrottle(throttling.SimpleRateThrottle):
    """Requests per key (per user for a browser session), counted in Redis.

    A sliding window of the configured length, estimated from two fixed windows' counters (this
    one's, and the last one's weighted by how much of it still overlaps): one pipelined round
    trip, atomic across web processes, the same cost at any rate (DRF's own keeps a list of
    every request's time, read and written whole on each request). Refused requests count too.
    """

    scope = "api_key"
    wait_seconds: float | None = None

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        now = self.timer()
        window = int(self.duration)
        current, into = divmod(now, window)
        this, last = f"{self.key}:{int(current)}", f"{self.key}:{int(current) - 1}"
        with get_redis().pipeline(transaction=False) as pipe:
            pipe.incr(this)
            pipe.expire(this, 2 * window)
            pipe.get(last)
            count, _, previous = pipe.execute()
        overlap = 1 - into / window
        estimate = int(previous or 0) * overlap + count
        if estimate <= self.num_requests:
            return True
        # Until enough of the last window has slid out (or, if this one alone is over, it ends).
        excess = estimate - self.num_requests
        if previous and int(previous) * overlap >= excess:
            self.wait_seconds = excess / int(previous) * window
        else:
            self.wait_seconds = window - into
        return False

    def wait(self):
        return self.wait_seconds

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiKey):
            ident = f"key-{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes API keys."""

    target_class = "apps.accounts.api_auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key from your profile page: `Authorization: Bearer pf_…`",
        }
