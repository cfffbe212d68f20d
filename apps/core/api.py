"""The REST API's error shape: {"error": {"code", "message", "fields": {field: [messages]}}}."""

from __future__ import annotations

import copy

from django.conf import settings
from django.core import signals
from django.core.exceptions import BadRequest, SuspiciousOperation
from django.utils.log import log_response
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

UNEXPECTED = (
    "The server failed while handling this request. A write may or may not have taken "
    "effect: send it again with the same Idempotency-Key, which answers with the first result "
    "if it did and goes ahead if it did not."
)


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for name, value in detail.items():
            path = f"{prefix}.{name}" if prefix else str(name)
            fields.update(_flatten(value, path))
    elif isinstance(detail, list):
        if all(not isinstance(v, dict | list) for v in detail):
            fields[prefix or "non_field_errors"] = [str(v) for v in detail]
        else:
            for i, value in enumerate(detail):
                fields.update(_flatten(value, f"{prefix}[{i}]"))
    else:
        fields[prefix or "non_field_errors"] = [str(detail)]
    return fields


def exception_handler(exc, context):
    response = drf_exception_handler(exc, context)
    if response is None:
        return _unexpected(exc, context)
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        first = next(iter(fields.items()))
        body = {"code": "invalid", "message": f"{first[0]}: {first[1][0]}", "fields": fields}
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        body = {"code": str(code), "message": str(detail)}
    response.data = {"error": body}
    return response


def _unexpected(exc, context):
    """An error the API did not foresee (a bug, the database lost mid-request): the same JSON
    shape as every other error, a 500, and logged with its traceback as Django logs one.

    Left to Django as before: a request Django itself refuses (`SuspiciousOperation` and
    `BadRequest`, such as too many query parameters, are its 400s, logged on
    `django.security`), and everything under DEBUG (its debug page) or
    DEBUG_PROPAGATE_EXCEPTIONS."""
    if (
        settings.DEBUG
        or settings.DEBUG_PROPAGATE_EXCEPTIONS
        or isinstance(exc, SuspiciousOperation | BadRequest)
    ):
        return None
    request = getattr(context.get("request"), "_request", None)
    set_rollback()
    # As Django's own handling of an uncaught error: listeners (the test client, error
    # reporters) still hear of it.
    signals.got_request_exception.send(sender=None, request=request)
    response = Response({"error": {"code": "server_error", "message": UNEXPECTED}}, status=500)
    # Once, with its traceback, on Django's `django.request` logger (marked logged, so Django
    # does not log the 500 a second time without it).
    log_response(
        "Internal Server Error: %s",
        getattr(request, "path", "?"),
        response=response,
        request=request,
        exception=exc,
    )
    return response


class PlainSerializer(serializers.Serializer):
    """A Serializer whose fields are rebuilt for each instance from the arguments they were
    declared with, as DRF's own `Field.__deepcopy__` rebuilds them, without deep-copying those
    arguments (choices, defaults). DRF deep-copies every declared field of every serializer it
    makes: on the REST API's order path that was about a tenth of an order's CPU (two
    serializers of 30 fields, bench/order_accept.py). Declared arguments are never changed
    after declaration, so sharing them is safe; a nested serializer is still deep-copied."""

    def get_fields(self):
        return {
            name: (
                copy.deepcopy(field)
                if isinstance(field, serializers.BaseSerializer)
                else type(field)(*field._args, **field._kwargs)
            )
            for name, field in self._declared_fields.items()
        }

    @classmethod
    def represent(cls, instance) -> dict:
        """`cls(instance).data` without building a serializer: each declared field renders its
        attribute (rendering reads a field's arguments and changes nothing). For the order
        path's answer; serializers with dotted sources or nested serializers build as usual."""
        out = {}
        for name, field in cls._declared_fields.items():
            source = field.source or name
            if isinstance(field, serializers.BaseSerializer) or "." in source or source == "*":
                return dict(cls(instance).data)
            value = getattr(instance, source)
            out[name] = None if value is None else field.to_representation(value)
        return out
