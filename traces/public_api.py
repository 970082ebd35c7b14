"""The public read and delete API, Langfuse-compatible (reference/langfuse-api.md §2.3): traces, observations
(v1 pages and v2 cursors), scores, sessions, daily metrics, metrics queries and score configs.

Every view here authenticates with the project's key pair (ApiKeyAuthentication: HTTP Basic pk:sk) and
reads only that key's project, so another project's id answers 404 exactly like an unknown one. Views
parse parameters, call one selector or service and render with the serializers of `public_api_out`;
bad input answers 400 with the shared error shape and the parameter's name in `field`.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

import traces.public_api_schema  # noqa: F401 - registers the auth schemes' OpenAPI extensions
from projects.api_errors import error_body
from projects.models import ApiKey, Project
from projects.services import Conflict
from traces import public_api_out as out
from traces import public_api_selectors as sel
from traces import services
from traces.ingest import views as ingest_views
from traces.models import ObservationType, ScoreDataType, ScoreSource

MAX_PAGE_LIMIT = 100
MAX_CURSOR_LIMIT = 1000
MAX_PAGE = 1_000_000  # keeps page * limit far inside PostgreSQL's OFFSET range
MAX_DELETE_IDS = 1000
ERRORS = {status_code: out.ErrorOut for status_code in (400, 401, 404)}


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."


# --- Parameters ------------------------------------------------------------------------------------


def clean_text(value: str, name: str) -> str:
    """PostgreSQL text cannot hold NUL, and lone surrogates cannot be encoded: both are the client's error."""
    if "\x00" in value:
        raise exceptions.ValidationError({name: f"{name} must not contain NUL characters."})
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise exceptions.ValidationError({name: f"{name} must be valid Unicode text."}) from None
    return value


class Params:
    """Typed query parameters; every failure is a 400 naming the parameter."""

    def __init__(self, request: Request) -> None:
        self.query = request.query_params

    def text(self, name: str) -> str | None:
        value = self.query.get(name)
        return None if value is None else clean_text(value, name)

    def texts(self, name: str, *, split: bool = True) -> tuple[str, ...]:
        """Repeated (`?environment=a&environment=b`) and, with `split`, comma-separated values."""
        values: list[str] = []
        for raw in self.query.getlist(name):
            parts = clean_text(raw, name).split(",") if split else [clean_text(raw, name)]
            values.extend(part.strip() for part in parts if part.strip())
        return tuple(values)

    def integer(self, name: str, default: int, maximum: int) -> int:
        raw = self.query.get(name)
        if raw in (None, ""):
            return default
        try:
            value = int(raw)
        except ValueError:
            raise exceptions.ValidationError({name: f"{name} must be an integer from 1 to {maximum}."}) from None
        if not 1 <= value <= maximum:
            raise exceptions.ValidationError({name: f"{name} must be an integer from 1 to {maximum}."})
        return value

    def page(self) -> sel.Page:
        return sel.Page(page=self.integer("page", 1, MAX_PAGE), limit=self.integer("limit", 50, MAX_PAGE_LIMIT))

    def number(self, name: str) -> float | None:
        raw = self.query.get(name)
        if raw in (None, ""):
            return None
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise exceptions.ValidationError({name: f"{name} must be a finite number."})
        return value

    def timestamp(self, name: str) -> datetime | None:
        """ISO 8601 date-time (a date means its midnight); no time zone means UTC."""
        raw = self.query.get(name)
        if raw in (None, ""):
            return None
        return parse_timestamp(raw, name)

    def choice(self, name: str, choices: tuple[str, ...] | list[str]) -> str | None:
        value = self.text(name)
        if value in (None, ""):
            return None
        if value not in choices:
            raise exceptions.ValidationError({name: f"{name} must be one of {', '.join(choices)}."})
        return value


def parse_timestamp(raw: str, name: str) -> datetime:
    """ISO 8601 date-time (a date means its midnight) in UTC; no time zone means UTC. 400 naming `name` if not."""
    message = f"{name} must be an ISO 8601 date-time, e.g. 2025-01-31T12:00:00Z."
    try:
        parsed = parse_datetime(raw.strip())
        if parsed is None:
            day = parse_date(raw.strip())
            parsed = datetime(day.year, day.month, day.day, tzinfo=UTC) if day else None
        if parsed is None:
            raise ValueError(raw)
        # In UTC: PostgreSQL refuses offsets beyond ±15:59 that Python accepts.
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise exceptions.ValidationError({name: message}) from None


def _path_id(value: str, name: str) -> str:
    return clean_text(value, name)


def _one(value: str | None) -> tuple[str, ...]:
    return () if value in (None, "") else (value,)


def _q(name: str, type_: Any = str, description: str = "", many: bool = False, **extra: Any) -> OpenApiParameter:
    return OpenApiParameter(name, type_, OpenApiParameter.QUERY, description=description, many=many, **extra)


PAGE_PARAMS = [
    _q("page", int, "Page number, from 1."),
    _q("limit", int, f"Items per page, 1-{MAX_PAGE_LIMIT} (default 50)."),
]
TIME_PARAMS = [
    _q("fromTimestamp", OpenApiTypes.DATETIME, "On or after this time (ISO 8601)."),
    _q("toTimestamp", OpenApiTypes.DATETIME, "Before this time (ISO 8601)."),
]
ENVIRONMENT_PARAM = _q("environment", str, "One of these environments (repeat or comma-separate).", many=True)


# --- Base view -------------------------------------------------------------------------------------


class PublicApiView(APIView):
    """Key-authenticated, project-scoped: `self.project_id` is the key's project and nothing else is read."""

    max_body_setting = "PUBLIC_API_MAX_BODY_BYTES"

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        length = request.META.get("CONTENT_LENGTH") or "0"
        limit = getattr(settings, self.max_body_setting)
        if length.isdigit() and int(length) > limit:
            raise PayloadTooLarge(f"The body is larger than {limit} bytes.")
        super().initial(request, *args, **kwargs)

    @property
    def project_id(self) -> int:
        return self.request.user.project_id

    def project(self) -> Project:
        return Project.objects.select_related("organization").get(pk=self.project_id)

    def api_key(self) -> ApiKey:
        return ApiKey.objects.get(pk=self.request.user.key_id)


def _not_found(what: str) -> exceptions.NotFound:
    return exceptions.NotFound(f"No {what} with this id in this project.")


# --- Traces ----------------------------------------------------------------------------------------


def _trace_filters(params: Params) -> sel.TraceFilters:
    return sel.TraceFilters(
        user_id=params.text("userId"),
        name=params.text("name"),
        session_id=params.text("sessionId"),
        release=params.text("release"),
        version=params.text("version"),
        tags=params.texts("tags", split=False),  # a tag may contain a comma
        environments=params.texts("environment"),
        from_timestamp=params.timestamp("fromTimestamp"),
        to_timestamp=params.timestamp("toTimestamp"),
    )


def _order_by(params: Params) -> tuple[str, bool]:
    raw = params.text("orderBy")
    if not raw:
        return "timestamp", True
    column, _, direction = raw.partition(".")
    if column not in sel.TRACE_ORDER_COLUMNS or direction.lower() not in ("asc", "desc"):
        columns = ", ".join(sel.TRACE_ORDER_COLUMNS)
        raise exceptions.ValidationError(
            {"orderBy": f"orderBy must be <field>.asc or <field>.desc; fields: {columns}."}
        )
    return sel.TRACE_ORDER_COLUMNS[column], direction.lower() == "desc"


TRACE_FILTER_PARAMS = [
    _q("userId"),
    _q("name"),
    _q("sessionId"),
    _q("release"),
    _q("version"),
    _q("tags", str, "Traces that carry all of these tags (repeat the parameter).", many=True),
    ENVIRONMENT_PARAM,
    *TIME_PARAMS,
]


class TraceIdsIn(serializers.Serializer):
    traceIds = serializers.ListField(
        child=serializers.CharField(max_length=800, trim_whitespace=False),
        min_length=1,
        max_length=MAX_DELETE_IDS,
    )


class TracesView(PublicApiView):
    @extend_schema(
        operation_id="traces_list",
        summary="List traces (newest first), filtered and paged",
        parameters=[
            *PAGE_PARAMS,
            *TRACE_FILTER_PARAMS,
            _q("orderBy", str, "<field>.asc|desc; fields: " + ", ".join(sel.TRACE_ORDER_COLUMNS)),
            _q("fields", str, "Comma-separated groups: " + ", ".join(out.TRACE_GROUPS) + " (default: all)."),
        ],
        responses={200: out.paged("TraceList", out.TraceListItemOut), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        params = Params(request)
        page = params.page()
        order_by, descending = _order_by(params)
        groups = {"core", *(params.texts("fields") or out.TRACE_GROUPS)}
        if groups - set(out.TRACE_GROUPS):
            unknown = ", ".join(sorted(groups - set(out.TRACE_GROUPS)))
            raise exceptions.ValidationError(
                {"fields": f"Unknown field group(s) {unknown}; use {', '.join(out.TRACE_GROUPS)}."}
            )
        rows, total = sel.traces_page(
            project_id=self.project_id,
            filters=_trace_filters(params),
            order_by=order_by,
            descending=descending,
            page=page,
        )
        ids = [row.id for row in rows]
        # Groups left out of `fields` cost no query: empty id lists, -1 metrics, null I/O (Langfuse's convention).
        context = {
            "groups": groups,
            "observation_ids": (
                sel.observation_ids_by_trace(project_id=self.project_id, trace_ids=ids)
                if ids and "observations" in groups
                else {}
            ),
            "score_ids": (
                sel.score_ids_by_trace(project_id=self.project_id, trace_ids=ids) if ids and "scores" in groups else {}
            ),
        }
        data = out.TraceListItemOut(rows, many=True, context=context).data
        return Response({"data": data, "meta": out.meta(page=page.page, limit=page.limit, total=total)})

    @extend_schema(
        operation_id="traces_delete_many",
        summary=f"Delete up to {MAX_DELETE_IDS} traces with their observations and scores (done when answered)",
        request=TraceIdsIn,
        responses={200: out.DeleteOut, 400: out.ErrorOut, 401: out.ErrorOut},
    )
    def delete(self, request: Request) -> Response:
        body = TraceIdsIn(data=request.data)
        body.is_valid(raise_exception=True)
        ids = body.validated_data["traceIds"]  # CharField already refuses NUL and lone surrogates
        deleted = services.traces_delete(project=self.project(), trace_ids=ids, actor_api_key=self.api_key())
        return Response({"message": f"Deleted {deleted} of {len(set(ids))} traces.", "deleted": deleted})


class TraceView(PublicApiView):
    @extend_schema(
        operation_id="trace_get",
        summary="One trace with its observations and scores",
        responses={200: out.TraceDetailOut, **ERRORS},
    )
    def get(self, request: Request, trace_id: str) -> Response:
        trace = sel.trace_get(project_id=self.project_id, trace_id=_path_id(trace_id, "traceId"))
        if trace is None:
            raise _not_found("trace")
        trace.observations = sel.trace_observations(project_id=self.project_id, trace_id=trace.id)
        trace.scores = sel.trace_scores(project_id=self.project_id, trace_id=trace.id)
        return Response(out.TraceDetailOut(trace).data)

    @extend_schema(
        operation_id="trace_delete",
        summary="Delete a trace with its observations and scores (done when answered)",
        responses={200: out.DeleteOut, **ERRORS},
    )
    def delete(self, request: Request, trace_id: str) -> Response:
        trace_id = _path_id(trace_id, "traceId")
        if not sel.traces_existing(project_id=self.project_id, trace_ids=[trace_id]):
            raise _not_found("trace")
        deleted = services.traces_delete(project=self.project(), trace_ids=[trace_id], actor_api_key=self.api_key())
        return Response({"message": "Trace deleted.", "deleted": deleted})


# --- Observations ----------------------------------------------------------------------------------


def _observation_filters(params: Params) -> sel.ObservationFilters:
    parent = params.text("parentObservationId")
    return sel.ObservationFilters(
        trace_id=params.text("traceId"),
        type=params.choice("type", ObservationType.values),
        name=params.text("name"),
        level=params.choice("level", ("DEBUG", "DEFAULT", "WARNING", "ERROR")),
        parent_observation_id=parent or None,
        root_only=parent == "",
        environments=params.texts("environment"),
        version=params.text("version"),
        user_id=params.text("userId"),
        session_id=params.text("sessionId"),
        from_start_time=params.timestamp("fromStartTime"),
        to_start_time=params.timestamp("toStartTime"),
    )


OBSERVATION_FILTER_PARAMS = [
    _q("traceId"),
    _q("type", str, "SPAN, GENERATION, EVENT, AGENT, TOOL, CHAIN, RETRIEVER, EMBEDDING, GUARDRAIL or EVALUATOR."),
    _q("name"),
    _q("level", str, "DEBUG, DEFAULT, WARNING or ERROR."),
    _q("parentObservationId", str, "Children of this observation; empty for observations without a parent."),
    _q("userId", str, "The trace's user."),
    _q("sessionId", str, "The trace's session."),
    _q("version"),
    ENVIRONMENT_PARAM,
    _q("fromStartTime", OpenApiTypes.DATETIME, "Started on or after this time."),
    _q("toStartTime", OpenApiTypes.DATETIME, "Started before this time."),
]


class ObservationsV2View(PublicApiView):
    @extend_schema(
        operation_id="observations_v2_list",
        summary="List observations (newest first) with cursor paging and field groups",
        parameters=[
            _q("limit", int, f"Items per page, 1-{MAX_CURSOR_LIMIT} (default 50)."),
            _q("cursor", str, "meta.cursor of the previous page."),
            _q(
                "fields",
                str,
                "Comma-separated groups: " + ", ".join(out.OBSERVATION_V2_GROUPS) + " (default core,basic).",
            ),
            *OBSERVATION_FILTER_PARAMS,
        ],
        responses={
            200: inline_serializer(
                "ObservationV2List",
                {
                    "data": out.ObservationV2Out(many=True),
                    "meta": inline_serializer("CursorMeta", {"cursor": serializers.CharField(required=False)}),
                },
            ),
            **ERRORS,
        },
    )
    def get(self, request: Request) -> Response:
        params = Params(request)
        limit = params.integer("limit", 50, MAX_CURSOR_LIMIT)
        groups = {"core", *(params.texts("fields") or ("basic",))}
        unknown = groups - set(out.OBSERVATION_V2_GROUPS)
        if unknown:
            known = ", ".join(out.OBSERVATION_V2_GROUPS)
            raise exceptions.ValidationError(
                {"fields": f"Unknown field group(s) {', '.join(sorted(unknown))}; use {known}."}
            )
        try:
            rows, cursor = sel.observations_after_cursor(
                project_id=self.project_id,
                filters=_observation_filters(params),
                cursor=params.text("cursor"),
                limit=limit,
            )
        except sel.CursorError as exc:
            raise exceptions.ValidationError({"cursor": str(exc)}) from None
        traces = (
            sel.traces_by_id(project_id=self.project_id, trace_ids=[row.trace_id for row in rows])
            if groups & {"basic", "trace_context"}
            else {}
        )
        # Plain dicts (only the asked-for groups' keys); the JSON renderer writes their dates as ISO 8601.
        data = [out.observation_v2(row, groups=groups, trace=traces.get(row.trace_id)) for row in rows]
        return Response({"data": data, "meta": {"cursor": cursor} if cursor else {}})


class ObservationsView(PublicApiView):
    @extend_schema(
        operation_id="observations_list",
        summary="List observations (v1: newest first, page-based)",
        parameters=[*PAGE_PARAMS, *OBSERVATION_FILTER_PARAMS],
        responses={200: out.paged("ObservationList", out.ObservationOut), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        params = Params(request)
        page = params.page()
        rows, total = sel.observations_page(project_id=self.project_id, filters=_observation_filters(params), page=page)
        data = out.ObservationOut(rows, many=True).data
        return Response({"data": data, "meta": out.meta(page=page.page, limit=page.limit, total=total)})


class ObservationView(PublicApiView):
    @extend_schema(
        operation_id="observation_get", summary="One observation", responses={200: out.ObservationOut, **ERRORS}
    )
    def get(self, request: Request, observation_id: str) -> Response:
        row = sel.observation_get(project_id=self.project_id, observation_id=_path_id(observation_id, "observationId"))
        if row is None:
            raise _not_found("observation")
        return Response(out.ObservationOut(row).data)


# --- Scores ----------------------------------------------------------------------------------------

SCORE_LIST_PARAMS = [
    *PAGE_PARAMS,
    _q("name"),
    _q("source", str, "API, EVAL, ANNOTATION or FEEDBACK (the stored source)."),
    _q("dataType", str, "NUMERIC, BOOLEAN, CATEGORICAL or TEXT."),
    _q("traceId"),
    _q("observationId"),
    _q("sessionId"),
    _q("datasetRunId"),
    _q("configId"),
    _q("userId", str, "The scored trace's user."),
    _q("scoreIds", str, "Only these score ids (comma-separated).", many=True),
    ENVIRONMENT_PARAM,
    *TIME_PARAMS,
    _q("operator", str, "Compare `value` with <, >, <=, >=, = or !=."),
    _q("value", float, "The number `operator` compares with."),
]


class ScoresListView(PublicApiView):
    """`GET /api/public/v2/scores` (and the GET of `/api/public/scores`)."""

    @extend_schema(
        operation_id="scores_list",
        summary="List scores (newest first), filtered and paged",
        parameters=SCORE_LIST_PARAMS,
        responses={200: out.paged("ScoreList", out.ScoreListItemOut), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        params = Params(request)
        page = params.page()
        operator = params.choice("operator", tuple(sel.SCORE_OPERATORS))
        value = params.number("value")
        if (operator is None) != (value is None):
            raise exceptions.ValidationError(
                {"operator" if operator is None else "value": "Send operator and value together."}
            )
        filters = sel.ScoreFilters(
            names=_one(params.text("name")),
            sources=_one(params.choice("source", ScoreSource.values)),
            data_types=_one(params.choice("dataType", ScoreDataType.values)),
            trace_ids=_one(params.text("traceId")),
            observation_ids=_one(params.text("observationId")),
            session_ids=_one(params.text("sessionId")),
            dataset_run_ids=_one(params.text("datasetRunId")),
            config_ids=_one(params.text("configId")),
            user_id=params.text("userId"),
            ids=params.texts("scoreIds"),
            environments=params.texts("environment"),
            from_timestamp=params.timestamp("fromTimestamp"),
            to_timestamp=params.timestamp("toTimestamp"),
            operator=operator,
            value=value,
        )
        rows, total = sel.scores_page(project_id=self.project_id, filters=filters, page=page)
        traces = sel.traces_by_id(project_id=self.project_id, trace_ids=[r.trace_id for r in rows if r.trace_id])
        data = out.ScoreListItemOut(rows, many=True, context={"traces": traces}).data
        return Response({"data": data, "meta": out.meta(page=page.page, limit=page.limit, total=total)})


class ScoresView(ScoresListView):
    """`/api/public/scores`: GET lists; POST is the existing ingestion endpoint (object → {id}, array → 202/207)."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        if request.method == "POST":  # the ingestion endpoint applies its own, larger body limits
            APIView.initial(self, request, *args, **kwargs)
        else:
            super().initial(request, *args, **kwargs)

    @extend_schema(
        operation_id="scores_create",
        summary="Create scores: one object (→ {id}) or an array (→ 202, or 207 with per-item errors)",
        request=OpenApiTypes.OBJECT,
        responses={
            200: inline_serializer("ScoreCreated", {"id": serializers.CharField()}),
            202: OpenApiTypes.OBJECT,
            207: OpenApiTypes.OBJECT,
            400: out.ErrorOut,
            401: out.ErrorOut,
            413: out.ErrorOut,
            415: out.ErrorOut,
            503: out.ErrorOut,
        },
    )
    def post(self, request: Request) -> Any:
        return ingest_views.langfuse_scores(request._request)


class ScoresV3View(PublicApiView):
    """`GET /api/public/v3/scores`: what the v5 SDK's `api.scores.get_many` calls (typed values, cursor paging)."""

    @extend_schema(
        operation_id="scores_v3_list",
        summary="List scores (v3: newest first, cursor paging, typed values, optional field groups)",
        parameters=[
            _q("limit", int, f"Items per page, 1-{MAX_PAGE_LIMIT} (default 50)."),
            _q("cursor", str, "meta.cursor of the previous page."),
            _q("fields", str, "Extra groups: " + ", ".join(out.SCORE_V3_GROUPS) + "."),
            *[
                _q(name, str, "Comma-separated values; any of them matches.")
                for name in ("id", "name", "source", "dataType", "environment", "configId", "traceId", "observationId")
            ],
            _q("sessionId", str, "Comma-separated values; any of them matches."),
            _q("experimentId", str, "Comma-separated dataset run ids."),
            _q("valueMin", float, "Inclusive lower bound on a NUMERIC value."),
            _q("valueMax", float, "Inclusive upper bound on a NUMERIC value."),
            *TIME_PARAMS,
        ],
        responses={
            200: inline_serializer(
                "ScoreV3List",
                {
                    "data": out.ScoreV3Out(many=True),
                    "meta": inline_serializer(
                        "ScoreV3Meta",
                        {"limit": serializers.IntegerField(), "cursor": serializers.CharField(required=False)},
                    ),
                },
            ),
            **ERRORS,
        },
    )
    def get(self, request: Request) -> Response:
        params = Params(request)
        limit = params.integer("limit", 50, MAX_PAGE_LIMIT)
        groups = set(params.texts("fields"))
        if groups - set(out.SCORE_V3_GROUPS):
            unknown = ", ".join(sorted(groups - set(out.SCORE_V3_GROUPS)))
            raise exceptions.ValidationError(
                {"fields": f"Unknown field group(s) {unknown}; use details, subject, annotation."}
            )
        data_types = tuple(t.upper() for t in params.texts("dataType"))
        if set(data_types) - set(ScoreDataType.values):
            raise exceptions.ValidationError({"dataType": f"dataType must be among {', '.join(ScoreDataType.values)}."})
        sources = tuple(source.upper() for source in params.texts("source"))
        if set(sources) - set(ScoreSource.values):
            raise exceptions.ValidationError({"source": f"source must be among {', '.join(ScoreSource.values)}."})
        filters = sel.ScoreFilters(
            ids=params.texts("id"),
            names=params.texts("name"),
            sources=sources,
            data_types=data_types,
            environments=params.texts("environment"),
            config_ids=params.texts("configId"),
            trace_ids=params.texts("traceId"),
            observation_ids=params.texts("observationId"),
            session_ids=params.texts("sessionId"),
            dataset_run_ids=params.texts("experimentId"),
            value_min=params.number("valueMin"),
            value_max=params.number("valueMax"),
            from_timestamp=params.timestamp("fromTimestamp"),
            to_timestamp=params.timestamp("toTimestamp"),
        )
        try:
            rows, cursor = sel.scores_after_cursor(
                project_id=self.project_id, filters=filters, cursor=params.text("cursor"), limit=limit
            )
        except sel.CursorError as exc:
            raise exceptions.ValidationError({"cursor": str(exc)}) from None
        meta: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        return Response({"data": [out.score_v3(row, groups=groups) for row in rows], "meta": meta})


class ScoreView(PublicApiView):
    @extend_schema(operation_id="score_get", summary="One score", responses={200: out.ScoreOut, **ERRORS})
    def get(self, request: Request, score_id: str) -> Response:
        row = sel.score_get(project_id=self.project_id, score_id=_path_id(score_id, "scoreId"))
        if row is None:
            raise _not_found("score")
        return Response(out.ScoreOut(row).data)

    @extend_schema(
        operation_id="score_delete", summary="Delete a score (done when answered)", responses={204: None, **ERRORS}
    )
    def delete(self, request: Request, score_id: str) -> Response:
        if not services.score_delete(
            project=self.project(), score_id=_path_id(score_id, "scoreId"), actor_api_key=self.api_key()
        ):
            raise _not_found("score")
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(get=extend_schema(operation_id="scores_v2_list"))
class ScoresV2View(ScoresListView):
    """`GET /api/public/v2/scores`: the same list under Langfuse's v2 path (v4 SDK's `api.scores.get_many`)."""


class ScoreV2View(ScoreView):
    """`/api/public/v2/scores/{id}`: GET only, as in Langfuse (deleting is `DELETE /api/public/scores/{id}`)."""

    http_method_names = ["get", "head", "options"]

    @extend_schema(operation_id="score_v2_get", summary="One score", responses={200: out.ScoreOut, **ERRORS})
    def get(self, request: Request, score_id: str) -> Response:
        return super().get(request, score_id)


# --- Sessions --------------------------------------------------------------------------------------


class SessionsView(PublicApiView):
    @extend_schema(
        operation_id="sessions_list",
        summary="List sessions (newest first)",
        parameters=[*PAGE_PARAMS, *TIME_PARAMS, ENVIRONMENT_PARAM],
        responses={200: out.paged("SessionList", out.SessionOut), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        params = Params(request)
        page = params.page()
        rows, total = sel.sessions_page(
            project_id=self.project_id,
            page=page,
            from_timestamp=params.timestamp("fromTimestamp"),
            to_timestamp=params.timestamp("toTimestamp"),
            environments=params.texts("environment"),
        )
        return Response(
            {
                "data": out.SessionOut(rows, many=True).data,
                "meta": out.meta(page=page.page, limit=page.limit, total=total),
            }
        )


class SessionView(PublicApiView):
    @extend_schema(
        operation_id="session_get",
        summary="One session with its traces",
        responses={200: out.SessionDetailOut, **ERRORS},
    )
    def get(self, request: Request, session_id: str) -> Response:
        session = sel.session_get(project_id=self.project_id, session_id=_path_id(session_id, "sessionId"))
        if session is None:
            raise _not_found("session")
        session.traces = sel.session_traces(project_id=self.project_id, session_id=session.id)
        return Response(out.SessionDetailOut(session).data)


# --- Metrics ---------------------------------------------------------------------------------------


class MetricsDailyView(PublicApiView):
    @extend_schema(
        operation_id="metrics_daily",
        summary="Per day (UTC, newest first): traces, observations, cost and usage, in total and per model",
        parameters=[
            *PAGE_PARAMS,
            _q("traceName"),
            _q("userId"),
            _q("tags", str, "Traces that carry all of these tags.", many=True),
            ENVIRONMENT_PARAM,
            *TIME_PARAMS,
        ],
        responses={200: out.paged("DailyMetricsList", out.DailyMetricsOut), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        params = Params(request)
        page = params.page()
        filters = sel.TraceFilters(
            user_id=params.text("userId"),
            name=params.text("traceName"),
            tags=params.texts("tags", split=False),  # a tag may contain a comma
            environments=params.texts("environment"),
            from_timestamp=params.timestamp("fromTimestamp"),
            to_timestamp=params.timestamp("toTimestamp"),
        )
        days, total = sel.metrics_daily(project_id=self.project_id, filters=filters, page=page)
        return Response(
            {
                "data": out.DailyMetricsOut(days, many=True).data,
                "meta": out.meta(page=page.page, limit=page.limit, total=total),
            }
        )


# --- Metrics queries -------------------------------------------------------------------------------
#
# `GET /api/public/metrics?query=<json>` (v1) and `/api/public/v2/metrics` (v2): Langfuse's query object, checked
# here field by field against the views of `public_api_selectors.METRIC_VIEWS`; whatever is outside that subset
# is a 400 naming the field (`query.filters[0].operator`), never a 500.

MAX_METRIC_DIMENSIONS = 5
MAX_METRICS = 10
MAX_METRIC_FILTERS = 30
MAX_FILTER_VALUES = 100
MAX_METRIC_ROWS = 1000
DEFAULT_METRIC_ROWS = 100
_QUERY_KEYS = (
    "view",
    "dimensions",
    "metrics",
    "filters",
    "timeDimension",
    "fromTimestamp",
    "toTimestamp",
    "orderBy",
    "config",
    "chartConfig",
)
_STRING_OPERATORS = ("=", "!=", "<>", "contains", "does not contain", "starts with", "ends with")
_COMPARISONS = ("=", "!=", "<>", ">", "<", ">=", "<=")
# Filter type → (operators, the column kinds it applies to). "in" and "<>" are spellings of "any of" and "!=".
FILTER_TYPES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "string": (_STRING_OPERATORS, ("string",)),
    "stringOptions": (("any of", "none of", "in"), ("string",)),
    "categoryOptions": (("any of", "none of", "in"), ("string",)),
    "arrayOptions": (("any of", "none of", "all of"), ("array",)),
    "number": (_COMPARISONS, ("number",)),
    "datetime": ((">", "<", ">=", "<="), ("datetime",)),
    "boolean": (("=", "<>", "!="), ("boolean",)),
    "null": (("is null", "is not null"), ("string", "number", "boolean", "array")),
    "stringObject": (_STRING_OPERATORS, ("metadata",)),
}
_OPERATOR_SPELLINGS = {"in": "any of", "<>": "!="}


def _bad(field: str, message: str) -> exceptions.ValidationError:
    return exceptions.ValidationError({field: message})


def _object(value: Any, field: str, keys: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(field, f"{field} must be a JSON object.")
    unknown = sorted(set(value) - set(keys))
    if unknown:
        key = clean_text(unknown[0][:100], field)
        raise _bad(f"{field}.{key}", f"{key!r} is not supported here; use {', '.join(keys)}.")
    return value


def _list(value: Any, field: str, maximum: int) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad(field, f"{field} must be a JSON array.")
    if len(value) > maximum:
        raise _bad(field, f"{field} takes at most {maximum} items.")
    return value


def _string(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise _bad(field, f"{field} must be a string.")
    return clean_text(value, field)


def _name(value: Any, field: str, choices: Any) -> str:
    text = _string(value, field)
    if text not in choices:
        raise _bad(field, f"{field} {text[:100]!r} is not supported; use one of {', '.join(choices)}.")
    return text


def _finite(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(field, f"{field} must be a number.")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise _bad(field, f"{field} must be a finite number.")
    return number


def _auto_granularity(start: datetime, end: datetime) -> str:
    """About 50 buckets over the range, as Langfuse's `auto`."""
    hours = (end - start).total_seconds() / 3600
    for limit, granularity in ((2, "minute"), (72, "hour"), (1440, "day"), (8760, "week")):
        if hours < limit:
            return granularity
    return "month"


def _metric_filter(raw: Any, field: str, view: sel.MetricView) -> sel.MetricFilter:
    item = _object(raw, field, ("column", "operator", "value", "type", "key"))
    column = _string(item.get("column"), f"{field}.column")
    if column in view.dimensions:
        kind = view.dimensions[column].kind
    elif column in view.time_fields:
        kind = "datetime"
    elif column == "metadata":
        kind = "metadata"
    elif column == view.name_alias:
        column, kind = "name", view.dimensions["name"].kind
    else:
        allowed = ", ".join([*view.dimensions, view.time_fields[0], "metadata"])
        raise _bad(f"{field}.column", f"{field}.column {column[:100]!r} is not a column of this view; use {allowed}.")
    type_ = _name(item.get("type"), f"{field}.type", FILTER_TYPES)
    operators, kinds = FILTER_TYPES[type_]
    if kind not in kinds:
        expected = ", ".join(t for t, (_, k) in FILTER_TYPES.items() if kind in k)
        raise _bad(f"{field}.type", f"{column} takes filters of type {expected}, not {type_}.")
    operator = _name(item.get("operator"), f"{field}.operator", operators)
    operator = _OPERATOR_SPELLINGS.get(operator, operator)
    value: Any = item.get("value")
    key = None
    if type_ in ("string", "stringObject"):
        value = _string(value, f"{field}.value")
    elif type_ in ("stringOptions", "categoryOptions", "arrayOptions"):
        values = _list(value, f"{field}.value", MAX_FILTER_VALUES)
        if not values and type_ != "arrayOptions":
            raise _bad(f"{field}.value", f"{field}.value must list at least one value.")
        value = tuple(_string(v, f"{field}.value") for v in values)
    elif type_ == "number":
        value = _finite(value, f"{field}.value")
    elif type_ == "datetime":
        value = parse_timestamp(_string(value, f"{field}.value"), f"{field}.value")
    elif type_ == "boolean":
        if not isinstance(value, bool):
            raise _bad(f"{field}.value", f"{field}.value must be true or false.")
    else:  # null
        value = None
    if type_ == "stringObject":
        key = _string(item.get("key"), f"{field}.key")
        if not key:
            raise _bad(f"{field}.key", f"{field}.key names the metadata key to compare.")
    return sel.MetricFilter(column=column, operator=operator, value=value, key=key)


def metrics_query_parse(raw: str | None, *, version: int) -> sel.MetricsQuery:
    """The `query` parameter (JSON) → a checked MetricsQuery; a 400 naming the field otherwise."""
    if raw in (None, ""):
        raise _bad("query", "query is required: a JSON object with view, metrics, fromTimestamp and toTimestamp.")
    try:
        parsed = json.loads(clean_text(raw, "query"))
    except (ValueError, RecursionError):
        raise _bad("query", "query must be valid JSON.") from None
    query = _object(parsed, "query", _QUERY_KEYS)
    views = [name for name in sel.METRIC_VIEWS if version == 1 or name != "traces"]
    if version == 2 and query.get("view") == "traces":
        raise _bad("query.view", "The v2 metrics API has no traces view (as Langfuse's): use GET /api/public/metrics.")
    view_name = _name(query.get("view"), "query.view", views)
    view = sel.METRIC_VIEWS[view_name]

    dimensions: list[str] = []
    for index, raw_dimension in enumerate(_list(query.get("dimensions"), "query.dimensions", MAX_METRIC_DIMENSIONS)):
        field = f"query.dimensions[{index}].field"
        name = _name(
            _object(raw_dimension, f"query.dimensions[{index}]", ("field",)).get("field"), field, view.dimensions
        )
        if version == 2 and name in view.high_cardinality:
            raise _bad(field, f"The v2 metrics API does not group by {name}; filter on it instead.")
        if name in dimensions:
            raise _bad(field, f"{name} is already a dimension.")
        dimensions.append(name)
    if sum(view.dimensions[name].kind == "array" for name in dimensions) > 1:
        raise _bad("query.dimensions", "Group by one array dimension (tags) at most.")

    metrics: list[sel.Metric] = []
    raw_metrics = _list(query.get("metrics"), "query.metrics", MAX_METRICS)
    if not raw_metrics:
        raise _bad("query.metrics", "query.metrics must list at least one {measure, aggregation}.")
    for index, raw_metric in enumerate(raw_metrics):
        field = f"query.metrics[{index}]"
        item = _object(raw_metric, field, ("measure", "aggregation"))
        metric = sel.Metric(
            measure=_name(item.get("measure"), f"{field}.measure", view.measures),
            aggregation=_name(item.get("aggregation"), f"{field}.aggregation", sel.METRIC_AGGREGATIONS),
        )
        if metric in metrics:
            raise _bad(field, f"{metric.alias} is already asked for.")
        metrics.append(metric)

    filters = tuple(
        _metric_filter(item, f"query.filters[{index}]", view)
        for index, item in enumerate(_list(query.get("filters"), "query.filters", MAX_METRIC_FILTERS))
    )
    start = parse_timestamp(_string(query.get("fromTimestamp"), "query.fromTimestamp"), "query.fromTimestamp")
    end = parse_timestamp(_string(query.get("toTimestamp"), "query.toTimestamp"), "query.toTimestamp")
    if start >= end:
        raise _bad("query.toTimestamp", "query.toTimestamp must be after query.fromTimestamp.")

    granularity = None
    if query.get("timeDimension") is not None:
        time_dimension = _object(query["timeDimension"], "query.timeDimension", ("granularity",))
        granularity = _name(
            time_dimension.get("granularity"), "query.timeDimension.granularity", ("auto", *sel.METRIC_GRANULARITIES)
        )
        if granularity == "auto":
            granularity = _auto_granularity(start, end)

    outputs = [*dimensions, *([sel.TIME_DIMENSION] if granularity else []), *(m.alias for m in metrics)]
    order_by: list[tuple[str, bool]] = []
    for index, raw_order in enumerate(_list(query.get("orderBy"), "query.orderBy", len(outputs))):
        field = f"query.orderBy[{index}]"
        item = _object(raw_order, field, ("field", "direction"))
        name = _name(item.get("field"), f"{field}.field", outputs)
        direction = _name(item.get("direction"), f"{field}.direction", ("asc", "desc"))
        order_by.append((name, direction == "desc"))
    if not order_by:  # Langfuse's default: time, else the first metric (largest first), else the first dimension
        first = sel.TIME_DIMENSION if granularity else metrics[0].alias
        order_by.append((first, first != sel.TIME_DIMENSION))

    config_key = "config" if "config" in query else "chartConfig"
    raw_config = query.get(config_key)
    config = {} if raw_config is None else _object(raw_config, f"query.{config_key}", ("row_limit", "bins", "type"))
    row_limit = DEFAULT_METRIC_ROWS
    if config.get("row_limit") is not None:
        field = f"query.{config_key}.row_limit"
        raw_limit = config["row_limit"]
        if isinstance(raw_limit, bool) or not isinstance(raw_limit, int) or not 1 <= raw_limit <= MAX_METRIC_ROWS:
            raise _bad(field, f"{field} must be an integer from 1 to {MAX_METRIC_ROWS}.")
        row_limit = raw_limit
    return sel.MetricsQuery(
        view=view_name,
        dimensions=tuple(dimensions),
        metrics=tuple(metrics),
        filters=filters,
        granularity=granularity,
        from_timestamp=start,
        to_timestamp=end,
        order_by=tuple(order_by),
        row_limit=row_limit,
    )


_METRICS_EXAMPLE = {
    "view": "observations",
    "dimensions": [{"field": "providedModelName"}],
    "metrics": [{"measure": "count", "aggregation": "count"}, {"measure": "totalCost", "aggregation": "sum"}],
    "filters": [{"column": "type", "operator": "=", "value": "GENERATION", "type": "string"}],
    "timeDimension": {"granularity": "day"},
    "fromTimestamp": "2026-03-01T00:00:00Z",
    "toTimestamp": "2026-04-01T00:00:00Z",
}


def _metrics_schema(version: int) -> Any:
    views = ", ".join(name for name in sel.METRIC_VIEWS if version == 1 or name != "traces")
    return extend_schema(
        operation_id=f"metrics_v{version}",
        summary=f"Aggregate {views} by dimensions and time (Langfuse's metrics query{', v2' if version == 2 else ''})",
        description=(
            "`query` is a JSON object: `view` (" + views + "), `dimensions` [{field}], `metrics` [{measure, "
            "aggregation}] (" + ", ".join(sel.METRIC_AGGREGATIONS) + "), `filters` [{column, operator, value, type, "
            "key?}], `timeDimension` {granularity: auto, " + ", ".join(sel.METRIC_GRANULARITIES) + "}, "
            "`fromTimestamp` and `toTimestamp` (required, ISO 8601, both inclusive), `orderBy` [{field, direction}], "
            f"`config` {{row_limit: 1-{MAX_METRIC_ROWS}, default {DEFAULT_METRIC_ROWS}}}. Each row has the "
            "dimensions by name, `time_dimension` (the bucket's start, UTC) and `<aggregation>_<measure>`."
        ),
        parameters=[
            _q(
                "query",
                str,
                "The query object as JSON (URL-encoded).",
                required=True,
                examples=[OpenApiExample("Generations per model and day", value=json.dumps(_METRICS_EXAMPLE))],
            )
        ],
        responses={
            200: inline_serializer(
                f"MetricsV{version}Response",
                {"data": serializers.ListField(child=serializers.DictField(), help_text="One object per group.")},
            ),
            **ERRORS,
        },
    )


class MetricsV1View(PublicApiView):
    version = 1

    @_metrics_schema(1)
    def get(self, request: Request) -> Response:
        query = metrics_query_parse(request.query_params.get("query"), version=self.version)
        return Response({"data": sel.metrics_query(project_id=self.project_id, query=query)})


class MetricsV2View(MetricsV1View):
    """The v2 path (v4/v5 SDKs' `api.metrics.metrics`): no traces view, and no grouping by ids or users."""

    version = 2

    @_metrics_schema(2)
    def get(self, request: Request) -> Response:
        return super().get(request)


# --- Score configs ---------------------------------------------------------------------------------

CONFIG_TYPES = (ScoreDataType.NUMERIC, ScoreDataType.BOOLEAN, ScoreDataType.CATEGORICAL)
MAX_CATEGORIES = 50


class CategoryIn(serializers.Serializer):
    label = serializers.CharField(max_length=200)
    value = serializers.FloatField()


class ScoreConfigPatchIn(serializers.Serializer):
    name = serializers.CharField(max_length=500, required=False)
    categories = CategoryIn(many=True, required=False, allow_null=True, max_length=MAX_CATEGORIES)
    minValue = serializers.FloatField(required=False, allow_null=True)
    maxValue = serializers.FloatField(required=False, allow_null=True)
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True, allow_null=True)
    isArchived = serializers.BooleanField(required=False)

    def validate_name(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("name must not be blank.")
        return value.strip()

    def validate_categories(self, value: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        labels = [category["label"] for category in value or []]
        if len(labels) != len(set(labels)):
            raise serializers.ValidationError("Category labels must be unique.")
        return value


class ScoreConfigIn(ScoreConfigPatchIn):
    name = serializers.CharField(max_length=500)
    dataType = serializers.ChoiceField(choices=CONFIG_TYPES)


_CONFIG_FIELDS = {
    "name": "name",
    "minValue": "min_value",
    "maxValue": "max_value",
    "categories": "categories",
    "description": "description",
    "isArchived": "is_archived",
}


def _config_values(data: dict[str, Any], data_type: str) -> dict[str, Any]:
    """Validated body → model fields, checked against the data type (a range only for NUMERIC, categories
    only for CATEGORICAL)."""
    values = {_CONFIG_FIELDS[key]: value for key, value in data.items() if key in _CONFIG_FIELDS}
    if "description" in values:
        values["description"] = values["description"] or ""
    if data_type == ScoreDataType.NUMERIC:
        low, high = values.get("min_value"), values.get("max_value")
        if low is not None and high is not None and low > high:
            raise exceptions.ValidationError({"maxValue": "maxValue must not be below minValue."})
    elif values.get("min_value") is not None or values.get("max_value") is not None:
        raise exceptions.ValidationError({"minValue": f"minValue/maxValue apply to NUMERIC configs, not {data_type}."})
    if data_type == ScoreDataType.CATEGORICAL:
        if "categories" in values and not values["categories"]:
            raise exceptions.ValidationError({"categories": "A CATEGORICAL config needs at least one category."})
    elif values.get("categories"):
        raise exceptions.ValidationError({"categories": f"categories apply to CATEGORICAL configs, not {data_type}."})
    else:
        values.pop("categories", None)
    return values


def _conflict(exc: Conflict) -> Response:
    return Response(error_body(409, str(exc), "name"), status=status.HTTP_409_CONFLICT)


class ScoreConfigsView(PublicApiView):
    @extend_schema(
        operation_id="score_configs_list",
        summary="List score configs (newest first)",
        parameters=PAGE_PARAMS,
        responses={200: out.paged("ScoreConfigList", out.ScoreConfigOut), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        page = Params(request).page()
        rows, total = sel.score_configs_page(project_id=self.project_id, page=page)
        return Response(
            {
                "data": out.ScoreConfigOut(rows, many=True).data,
                "meta": out.meta(page=page.page, limit=page.limit, total=total),
            }
        )

    @extend_schema(
        operation_id="score_configs_create",
        summary="Create a score config",
        request=ScoreConfigIn,
        responses={201: out.ScoreConfigOut, 409: out.ErrorOut, 413: out.ErrorOut, 415: out.ErrorOut, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        body = ScoreConfigIn(data=request.data)
        body.is_valid(raise_exception=True)
        data_type = body.validated_data["dataType"]
        values = _config_values(body.validated_data, data_type)
        values.pop("is_archived", None)
        if values.get("categories") is None and data_type == ScoreDataType.CATEGORICAL:
            raise exceptions.ValidationError({"categories": "A CATEGORICAL config needs at least one category."})
        try:
            config = services.score_config_create(
                project=self.project(), data_type=data_type, actor_api_key=self.api_key(), **values
            )
        except Conflict as exc:
            return _conflict(exc)
        return Response(out.ScoreConfigOut(config).data, status=status.HTTP_201_CREATED)


class ScoreConfigView(PublicApiView):
    def _config(self, config_id: str) -> Any:
        config = sel.score_config_get(project_id=self.project_id, config_id=config_id)
        if config is None:
            raise _not_found("score config")
        return config

    @extend_schema(
        operation_id="score_config_get", summary="One score config", responses={200: out.ScoreConfigOut, **ERRORS}
    )
    def get(self, request: Request, config_id: str) -> Response:
        return Response(out.ScoreConfigOut(self._config(config_id)).data)

    @extend_schema(
        operation_id="score_config_update",
        summary="Change or archive a score config (its data type is fixed)",
        request=ScoreConfigPatchIn,
        responses={200: out.ScoreConfigOut, 409: out.ErrorOut, 413: out.ErrorOut, 415: out.ErrorOut, **ERRORS},
    )
    def patch(self, request: Request, config_id: str) -> Response:
        config = self._config(config_id)
        body = ScoreConfigPatchIn(data=request.data)
        body.is_valid(raise_exception=True)
        changes = _config_values(body.validated_data, config.data_type)
        merged = {"min_value": config.min_value, "max_value": config.max_value, **changes}
        if (
            config.data_type == ScoreDataType.NUMERIC
            and None not in (merged["min_value"], merged["max_value"])
            and merged["min_value"] > merged["max_value"]
        ):
            raise exceptions.ValidationError({"maxValue": "maxValue must not be below minValue."})
        if not changes:
            return Response(out.ScoreConfigOut(config).data)
        try:
            config = services.score_config_update(config=config, changes=changes, actor_api_key=self.api_key())
        except Conflict as exc:
            return _conflict(exc)
        return Response(out.ScoreConfigOut(config).data)

    @extend_schema(
        operation_id="score_config_delete",
        summary="Archive a score config (Sightline's: Langfuse has no delete; its scores keep their config)",
        responses={200: out.ScoreConfigOut, **ERRORS},
    )
    def delete(self, request: Request, config_id: str) -> Response:
        config = self._config(config_id)
        if not config.is_archived:  # archiving twice changes nothing and audits nothing
            config = services.score_config_update(
                config=config, changes={"is_archived": True}, actor_api_key=self.api_key()
            )
        return Response(out.ScoreConfigOut(config).data)
