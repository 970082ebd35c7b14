"""`POST /api/public/feedback`: thumbs up/down from a browser, authenticated by the project's public key alone.

A public key is meant to be seen (it ships in a web page), so it buys exactly one thing: this endpoint.
`PublicKeyAuthentication` is listed by this view only; every other endpoint keeps ApiKeyAuthentication,
which refuses an empty secret. What keeps a public key from being abused is here: CORS limited to the
project's allowed origins, rate limits per key and per client address (Redis), bounded input, and
idempotent writes (the score id is derived from the client's feedback id, so a double click counts once).
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import authentication, exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from projects.api_errors import error_body
from projects.auth import basic_credentials
from projects.selectors import ApiPrincipal, api_key_lookup, secret_matches
from traces import public_api_out as out
from traces import public_api_selectors as sel
from traces import services
from traces.public_api import PublicApiView

log = logging.getLogger(__name__)

MAX_COMMENT_CHARS = 2000
MAX_CLIENT_ID_CHARS = 200
PREFLIGHT_MAX_AGE_SECONDS = 600


class PublicKeyAuthentication(authentication.BaseAuthentication):
    """HTTP Basic `public_key:` (empty secret), as Langfuse's browser SDK sends it. A secret, if sent, must match."""

    def authenticate(self, request: Request) -> tuple[ApiPrincipal, ApiPrincipal]:
        public_key, secret = basic_credentials(request, second="an empty string", form="public_key: (empty password)")
        principal = api_key_lookup(public_key=public_key)
        if principal is None or (secret and not secret_matches(principal=principal, secret=secret)):
            raise exceptions.AuthenticationFailed("Invalid public key: unknown or revoked.")
        return principal, principal

    def authenticate_header(self, request: Request) -> str:
        return 'Basic realm="Sightline feedback"'


# --- Rate limits -----------------------------------------------------------------------------------


def client_address(request: HttpRequest) -> str:
    """The caller's address: REMOTE_ADDR, or the last hop of FEEDBACK_CLIENT_IP_HEADER behind a proxy."""
    header = settings.FEEDBACK_CLIENT_IP_HEADER
    if header:
        forwarded = request.headers.get(header, "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-1][:64]  # the hop our own proxy appended; earlier ones are the client's to invent
    return request.META.get("REMOTE_ADDR", "")[:64]


def rate_limit_wait(*, scope: str, ident: str, limit: int) -> int | None:
    """Seconds until the window resets when `ident` is over `limit` requests per window; None otherwise.

    A fixed-window counter in Redis (one INCR). If Redis is down the limit is skipped: feedback is cheap to
    store, and refusing it would break pages for a cache outage."""
    window = settings.FEEDBACK_RATE_LIMIT_WINDOW_SECONDS
    now = time.time()
    bucket = int(now // window)
    key = f"feedback-rate:{scope}:{ident}:{bucket}"
    try:
        cache.add(key, 0, timeout=window + 1)
        count = cache.incr(key)
    except Exception:
        log.warning("feedback.rate_limit_unavailable scope=%s", scope, exc_info=True)
        return None
    if count <= limit:
        return None
    return max(1, int((bucket + 1) * window - now) + 1)


def _throttle(scope: str, ident: str, limit: int, who: str) -> None:
    wait = rate_limit_wait(scope=scope, ident=ident, limit=limit)
    if wait is not None:
        log.info("feedback.rate_limited scope=%s", scope)
        raise exceptions.Throttled(wait=wait, detail=f"Too many feedback requests from this {who}; retry in {wait} s.")


# --- CORS ------------------------------------------------------------------------------------------


def _origin(request: HttpRequest) -> str | None:
    origin = (request.headers.get("Origin") or "").strip().rstrip("/").lower()
    return origin or None


def _cors(response: HttpResponse, origin: str) -> HttpResponse:
    response["Access-Control-Allow-Origin"] = origin
    response["Access-Control-Expose-Headers"] = "Retry-After"
    response["Vary"] = "Origin"
    return response


def preflight(request: HttpRequest) -> HttpResponse:
    """An OPTIONS preflight carries no key, so it is answered for origins some project allows; the POST that
    follows is checked against its own project's origins."""
    origin = _origin(request)
    if origin is None or not sel.any_project_allows_origin(origin=origin):
        return JsonResponse(error_body(403, f"Origin {origin or '(none)'} may not send feedback here."), status=403)
    response = HttpResponse(status=204)
    response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
    response["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE_SECONDS)
    return _cors(response, origin)


# --- The endpoint ----------------------------------------------------------------------------------


@extend_schema_field({"type": "integer", "enum": [0, 1]})
class ThumbField(serializers.Field):
    default_error_messages = {"invalid": "value must be 1 (thumbs up) or 0 (thumbs down)."}

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or (isinstance(data, (int, float)) and data in (0, 1)):
            return float(data)
        self.fail("invalid")
        raise AssertionError  # fail() raises

    def to_representation(self, value: float) -> int:
        return int(value)


class FeedbackIn(serializers.Serializer):
    traceId = serializers.CharField(max_length=800)
    observationId = serializers.CharField(max_length=800, required=False, allow_null=True, allow_blank=True)
    value = ThumbField()
    comment = serializers.CharField(max_length=MAX_COMMENT_CHARS, required=False, allow_null=True, allow_blank=True)
    id = serializers.CharField(
        max_length=MAX_CLIENT_ID_CHARS,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="Your feedback id: sending it again (a double click, a retry, a changed mind) updates one score.",
    )


class FeedbackView(PublicApiView):
    authentication_classes = [PublicKeyAuthentication]
    max_body_setting = "FEEDBACK_MAX_BODY_BYTES"
    allowed_origin: str | None = None  # set once the request's Origin is one its project allows

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "OPTIONS":
            return preflight(request)
        return super().dispatch(request, *args, **kwargs)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Per address before authentication, so a flood of made-up keys is limited too.
        _throttle("ip", client_address(request), settings.FEEDBACK_RATE_LIMIT_PER_IP, "address")
        super().initial(request, *args, **kwargs)
        origin = _origin(request)
        if origin is not None:
            allowed = sel.project_allowed_origins(project_id=request.user.project_id)
            if origin not in allowed:
                raise exceptions.PermissionDenied(
                    f"Origin {origin} may not send feedback for this project: add it under Project settings → "
                    "Feedback allowed origins."
                )
            self.allowed_origin = origin  # the key's project allows it: no need to ask again when answering
        _throttle("key", str(request.user.key_id), settings.FEEDBACK_RATE_LIMIT_PER_KEY, "key")

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        """Every answer (429, 401, 403, 400 included) carries CORS headers when some project allows the origin, the
        preflight's rule: otherwise the page's fetch sees a network error instead of, say, a 429 and its Retry-After.
        Whether this origin may write to this key's project was decided in `initial`, before anything was stored."""
        response = super().finalize_response(request, response, *args, **kwargs)
        origin = _origin(request)
        if origin is not None and (origin == self.allowed_origin or sel.any_project_allows_origin(origin=origin)):
            _cors(response, origin)
        return response

    @extend_schema(
        operation_id="feedback_create",
        summary="Thumbs up (1) or down (0) on a trace or observation, from a browser (public key only)",
        request=FeedbackIn,
        responses={
            200: inline_serializer("FeedbackStored", {"id": serializers.CharField(help_text="The stored score's id.")}),
            **{code: out.ErrorOut for code in (400, 401, 403, 413, 415, 429)},
        },
    )
    def post(self, request: Request) -> Response:
        project_id = request.user.project_id
        body = FeedbackIn(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        client_id = data.get("id") or None
        score_id = (
            services.feedback_score_id(project_id=project_id, client_id=client_id)
            if client_id
            else f"feedback-{uuid.uuid4().hex}"
        )
        score = services.feedback_record(
            project_id=project_id,
            score_id=score_id,
            trace_id=data["traceId"],
            observation_id=data.get("observationId") or None,
            value=data["value"],
            comment=data.get("comment") or None,
        )
        log.info("feedback.stored project=%s value=%d", project_id, int(data["value"]))
        return Response({"id": score.id})
