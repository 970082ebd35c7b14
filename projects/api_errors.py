"""One JSON error shape for every API answer: {"error", "message", "field"?}."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

_ERROR_NAMES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
    503: "unavailable",
}


def error_body(status_code: int, message: str, field: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": _ERROR_NAMES.get(status_code, "error"), "message": message}
    if field:
        body["field"] = field
    return body


def _first_field_error(detail: Any, prefix: str = "") -> tuple[str | None, str]:
    """Walks DRF's nested validation detail to the first field and message."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = key if key != "non_field_errors" else ""
            field, message = _first_field_error(value, f"{prefix}.{name}" if prefix and name else prefix or name)
            return field, message
    if isinstance(detail, list) and detail:
        return _first_field_error(detail[0], prefix)
    return (prefix or None), str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None  # a real bug: let Django answer 500 and log it
    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))  # type: ignore[attr-defined]
    if isinstance(exc, exceptions.ValidationError):
        field, message = _first_field_error(exc.detail)
        body = error_body(status.HTTP_400_BAD_REQUEST, message, field)
    else:
        body = error_body(exc.status_code, str(exc.detail))
    return Response(body, status=exc.status_code, headers=headers)
