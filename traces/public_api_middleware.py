"""One JSON error shape for every API answer, including the ones no API view produced.

DRF views and the ingestion views already answer errors as {"error", "message", "field"?}. What is left
are Django's own answers under the API prefixes: an unknown path (404 page), a wrong method on a plain
view (`require_POST`'s empty 405), a server error page. This middleware rewrites those into the same
shape, keeping their status and headers (Allow, Retry-After, WWW-Authenticate).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from http import HTTPStatus

from django.http import HttpRequest, HttpResponse

from projects.api_errors import error_body

API_PREFIXES = ("/api/", "/v1/")
_KEEP_TYPES = ("application/json", "application/x-protobuf")


def _message(request: HttpRequest, response: HttpResponse) -> str:
    if response.status_code == 404:
        return f"No API endpoint at {request.path[:200]}."
    if response.status_code == 405:
        return f"{request.method} is not allowed here; use {response.get('Allow', 'another method')}."
    try:
        return HTTPStatus(response.status_code).phrase + "."
    except ValueError:
        return "The request failed."


class ApiJsonErrorsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code < 400
            or response.streaming
            or not request.path.startswith(API_PREFIXES)
            or response.get("Content-Type", "").startswith(_KEEP_TYPES)
        ):
            return response
        response.content = json.dumps(error_body(response.status_code, _message(request, response)))
        response["Content-Type"] = "application/json"
        if response.has_header("Content-Length"):  # set for the old body by CommonMiddleware
            response["Content-Length"] = str(len(response.content))
        return response
