"""The OTLP/HTTP traces endpoint: read body under limits → parse → normalise → trace_batch_write → reply.

A plain Django view (no DRF parsers: the body is read from the stream with our own caps, never through
`request.body` and its DATA_UPLOAD_MAX_MEMORY_SIZE). CSRF-exempt and independent of sessions. A 2xx is
sent only after the batch is committed; bad input gets 4xx with the JSON error shape, never a 500.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.db import DatabaseError, DataError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from rest_framework import exceptions

from projects.api_errors import error_body
from projects.auth import ApiKeyAuthentication
from traces.ingest import otlp
from traces.ingest.normalise import spans_normalise
from traces.services import trace_batch_write

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


def _error(status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None) -> HttpResponse:
    response = HttpResponse(
        json.dumps(error_body(status, message, field)), status=status, content_type="application/json"
    )
    for key, value in (headers or {}).items():
        response[key] = value
    return response


def _authenticate(request: HttpRequest) -> Any:
    """The key's principal (with `project_id`), or raises DRF's auth errors."""
    authenticator = ApiKeyAuthentication()
    principal, _ = authenticator.authenticate(request)  # type: ignore[arg-type]
    return principal


def _content_length(request: HttpRequest) -> int | None:
    try:
        return int(request.META.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None


@csrf_exempt
@require_POST
def otlp_traces(request: HttpRequest) -> HttpResponse:
    try:
        principal = _authenticate(request)
    except (exceptions.AuthenticationFailed, exceptions.NotAuthenticated) as exc:
        return _error(401, str(exc.detail), headers={"WWW-Authenticate": 'Basic realm="Sightline"'})
    project_id = principal.project_id
    try:
        content_type = otlp.content_type_of(request.META.get("CONTENT_TYPE"))
        raw = otlp.body_read(request, content_length=_content_length(request))
        body = otlp.body_decompress(raw, encoding=request.META.get("HTTP_CONTENT_ENCODING"))
        del raw
        export = otlp.request_parse(body, content_type=content_type)
        del body
    except otlp.IngestError as exc:
        log.info("otlp.rejected project=%s status=%d message=%s", project_id, exc.status, exc.message)
        return _error(exc.status, exc.message, exc.field)

    batch = spans_normalise(export)
    del export
    try:
        result = trace_batch_write(
            project_id=project_id, traces=batch.traces, observations=batch.observations, scores=batch.scores
        )
    except DataError as exc:
        # Values the normaliser should have bounded: refuse the batch rather than fail with a 500.
        log.warning("otlp.write_refused project=%s error=%r", project_id, exc)
        return _error(400, f"The batch could not be stored: {exc}".strip()[:500])
    except (OperationalError, InterfaceError) as exc:
        log.error("otlp.write_unavailable project=%s error=%r", project_id, exc)
        return _error(503, "Storage is unavailable; retry later.", headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    except DatabaseError as exc:
        log.exception("otlp.write_failed project=%s", project_id)
        return _error(503, f"The batch could not be stored ({type(exc).__name__}); retry later.")
    log.info(
        "otlp.write project=%s traces=%d observations=%d rejected=%d",
        project_id,
        result.traces,
        result.observations,
        batch.rejected,
    )
    payload = otlp.response_encode(
        content_type=content_type, rejected_spans=batch.rejected, error_message=batch.error_message
    )
    return HttpResponse(payload, status=200, content_type=content_type)
