"""The OTLP/HTTP traces and logs endpoints: read body under limits → parse → normalise → trace_batch_write → reply.

A plain Django view (no DRF parsers: the body is read from the stream with our own caps, never through
`request.body` and its DATA_UPLOAD_MAX_MEMORY_SIZE). CSRF-exempt and independent of sessions. A 2xx is
sent only after the batch is committed; bad input gets 4xx with the JSON error shape, never a 500.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.db import DatabaseError, DataError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from rest_framework import exceptions

from projects.api_errors import error_body
from projects.auth import ApiKeyAuthentication
from traces.ingest import langfuse, otlp
from traces.ingest.logs import logs_normalise
from traces.ingest.normalise import NormalisedBatch, spans_normalise
from traces.pricing import costs_compute
from traces.services import ObservationIn, ScoreIn, TraceIn, WriteResult, observations_merge, trace_batch_write
from traces.tokens import usage_fill

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


def _write(
    channel: str,
    project_id: int,
    *,
    traces: list[TraceIn],
    observations: list[ObservationIn],
    scores: list[ScoreIn],
) -> WriteResult | HttpResponse:
    """trace_batch_write (committed on return), or the error answer: 400 for refused values, 503 for storage."""
    try:
        observations = observations_merge(observations)  # a create and its updates counted and priced as one
        usage_fill(observations=observations)  # counts tokens where the client sent none and a tokenizer fits
        costs_compute(project_id=project_id, observations=observations)  # prices what came without a cost
        return trace_batch_write(project_id=project_id, traces=traces, observations=observations, scores=scores)
    except DataError as exc:
        # Values the normaliser should have bounded: refuse the batch rather than fail with a 500.
        log.warning("%s.write_refused project=%s error=%r", channel, project_id, exc)
        return _error(400, f"The batch could not be stored: {exc}".strip()[:500])
    except (OperationalError, InterfaceError) as exc:
        log.error("%s.write_unavailable project=%s error=%r", channel, project_id, exc)
        return _error(503, "Storage is unavailable; retry later.", headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    except DatabaseError as exc:
        log.exception("%s.write_failed project=%s", channel, project_id)
        return _error(503, f"The batch could not be stored ({type(exc).__name__}); retry later.")


def _otlp_export(
    request: HttpRequest,
    channel: str,
    parse: Callable[..., Any],
    normalise: Callable[[Any], NormalisedBatch],
    encode: Callable[[str, NormalisedBatch], bytes],
) -> HttpResponse:
    """One OTLP/HTTP export (traces or logs): auth, content type, capped read, decompress, parse, write, reply."""
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
        export = parse(body, content_type=content_type)
        del body
    except otlp.IngestError as exc:
        log.info("%s.rejected project=%s status=%d message=%s", channel, project_id, exc.status, exc.message)
        return _error(exc.status, exc.message, exc.field)

    batch = normalise(export)
    del export
    result = _write(channel, project_id, traces=batch.traces, observations=batch.observations, scores=batch.scores)
    if isinstance(result, HttpResponse):
        return result
    log.info(
        "%s.write project=%s traces=%d observations=%d scores=%d rejected=%d ignored=%d",
        channel,
        project_id,
        result.traces,
        result.observations,
        result.scores,
        batch.rejected,
        batch.ignored,
    )
    return HttpResponse(encode(content_type, batch), status=200, content_type=content_type)


@csrf_exempt
@require_POST
def otlp_traces(request: HttpRequest) -> HttpResponse:
    return _otlp_export(
        request,
        "otlp",
        otlp.request_parse,
        spans_normalise,
        lambda content_type, batch: otlp.response_encode(
            content_type=content_type, rejected_spans=batch.rejected, error_message=batch.error_message
        ),
    )


@csrf_exempt
@require_POST
def otlp_logs(request: HttpRequest) -> HttpResponse:
    """`POST /v1/logs`: GenAI event records attach their content to their span; evaluations become scores."""
    return _otlp_export(
        request,
        "otlp_logs",
        otlp.logs_request_parse,
        logs_normalise,
        lambda content_type, batch: otlp.logs_response_encode(
            content_type=content_type, rejected_records=batch.rejected, error_message=batch.error_message
        ),
    )


# --- Langfuse REST ingestion (reference/langfuse-api.md §2.1, §1.4) -----------------------------------------


def _json_read(request: HttpRequest) -> Any:
    """The request's JSON body, read under the shared body limits (gzip/deflate too); raises IngestError."""
    raw = otlp.body_read(request, content_length=_content_length(request))
    body = otlp.body_decompress(raw, encoding=request.META.get("HTTP_CONTENT_ENCODING"))
    del raw
    try:
        return json.loads(body)
    except RecursionError as exc:
        raise otlp.IngestError(400, "Body is nested too deeply.") from exc
    except ValueError as exc:
        raise otlp.IngestError(400, f"Body is not valid JSON: {exc}") from exc


def _json(payload: Any, status: int) -> HttpResponse:
    return HttpResponse(json.dumps(payload), status=status, content_type="application/json")


def _unauthorized(exc: exceptions.APIException) -> HttpResponse:
    return _error(401, str(exc.detail), headers={"WWW-Authenticate": 'Basic realm="Sightline"'})


@csrf_exempt
@require_POST
def langfuse_ingestion(request: HttpRequest) -> HttpResponse:
    """`POST /api/public/ingestion`: always 207 {successes, errors} once the good events are committed."""
    try:
        principal = _authenticate(request)
    except (exceptions.AuthenticationFailed, exceptions.NotAuthenticated) as exc:
        return _unauthorized(exc)
    project_id = principal.project_id
    version = (request.headers.get("x-langfuse-ingestion-version") or "").strip()
    if version and (not version.isdigit() or int(version) > langfuse.MAX_INGESTION_VERSION):
        return _error(
            400,
            f"x-langfuse-ingestion-version {version[:20]!r} is not supported (up to {langfuse.MAX_INGESTION_VERSION}).",
            "x-langfuse-ingestion-version",
        )
    try:
        payload = _json_read(request)
    except otlp.IngestError as exc:
        log.info("langfuse.rejected project=%s status=%d message=%s", project_id, exc.status, exc.message)
        return _error(exc.status, exc.message, exc.field)
    if not isinstance(payload, dict):
        return _error(400, "Body must be a JSON object with a batch list.", "batch")
    events = payload.get("batch")
    if not isinstance(events, list):
        return _error(400, "batch must be a list of events.", "batch")

    batch, entities = langfuse.batch_normalise(events, now=datetime.now(UTC))
    del payload, events
    try:
        langfuse.entities_complete(project_id, batch, entities)
    except DatabaseError as exc:
        log.error("langfuse.read_unavailable project=%s error=%r", project_id, exc)
        return _error(503, "Storage is unavailable; retry later.", headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    result = _write("langfuse", project_id, traces=batch.traces, observations=batch.observations, scores=batch.scores)
    if isinstance(result, HttpResponse):
        return result
    log.info(
        "langfuse.write project=%s traces=%d observations=%d scores=%d errors=%d",
        project_id,
        result.traces,
        result.observations,
        result.scores,
        len(batch.errors),
    )
    return _json(
        {"successes": [{"id": event_id, "status": 201} for event_id in batch.successes], "errors": batch.errors}, 207
    )


@csrf_exempt
@require_POST
def langfuse_scores(request: HttpRequest) -> HttpResponse:
    """`POST /api/public/scores`: an object → 200 {id}; an array (SDK v5) → 207 with per-item results."""
    try:
        principal = _authenticate(request)
    except (exceptions.AuthenticationFailed, exceptions.NotAuthenticated) as exc:
        return _unauthorized(exc)
    project_id = principal.project_id
    try:
        payload = _json_read(request)
    except otlp.IngestError as exc:
        return _error(exc.status, exc.message, exc.field)
    now = datetime.now(UTC)
    if isinstance(payload, dict):
        try:
            score = langfuse.score_from(payload, timestamp=now, now=now, prefix="")
        except langfuse.EventError as exc:
            return _error(400, exc.message, exc.field)
        result = _write("scores", project_id, traces=[], observations=[], scores=[score])
        return result if isinstance(result, HttpResponse) else _json({"id": score.id}, 200)
    if not isinstance(payload, list):
        return _error(400, "Body must be a score object or a list of score objects.")
    scores: list[ScoreIn] = []
    successes: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(payload):
        item_id = item.get("id") if isinstance(item, dict) else None
        try:
            if not isinstance(item, dict):
                raise langfuse.EventError(f"[{index}]", f"[{index}] must be a score object.")
            score = langfuse.score_from(item, timestamp=now, now=now, prefix=f"[{index}].")
        except langfuse.EventError as exc:
            errors.append(
                {"id": item_id, "status": 400, "message": exc.message, "error": "bad_request", "field": exc.field}
            )
            continue
        scores.append(score)
        successes.append({"id": score.id, "status": 201})
    result = _write("scores", project_id, traces=[], observations=[], scores=scores)
    if isinstance(result, HttpResponse):
        return result
    if not errors:
        # Upstream's reply (capture 017). The v5 SDK parses any body with accepted/rejected/errors as a partial
        # failure and logs an error, so those keys are sent only when something was rejected.
        return _json({"message": "Accepted", "successes": successes}, 202)
    # `accepted`/`rejected` are what the v5 SDK's 207 model reads; successes/errors match /ingestion.
    return _json({"successes": successes, "errors": errors, "accepted": len(successes), "rejected": len(errors)}, 207)
