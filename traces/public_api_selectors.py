"""Reads behind the public API (`traces/public_api.py`): every function takes keyword-only arguments and the
project id, so no query can leave the key's project. Lists are bounded by the caller's `limit`; the extra
data for a page (observation and score ids, trace context) is fetched in one query per kind, never per row.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.contrib.postgres.aggregates import ArrayAgg
from django.db import connection
from django.db.models import Q, QuerySet

from projects.models import Project
from traces.models import Observation, Score, ScoreConfig, Session, Trace


@dataclass(frozen=True)
class Page:
    page: int
    limit: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


# --- Traces ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TraceFilters:
    user_id: str | None = None
    name: str | None = None
    session_id: str | None = None
    release: str | None = None
    version: str | None = None
    tags: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()
    from_timestamp: datetime | None = None
    to_timestamp: datetime | None = None


# orderBy columns as Langfuse names them → ours.
TRACE_ORDER_COLUMNS = {
    "id": "id",
    "timestamp": "timestamp",
    "name": "name",
    "userId": "user_id",
    "release": "release",
    "version": "version",
    "public": "public",
    "bookmarked": "bookmarked",
    "sessionId": "session_id",
}


def _trace_queryset(*, project_id: int, filters: TraceFilters) -> QuerySet[Trace]:
    rows = Trace.objects.filter(project_id=project_id)
    exact = {
        "user_id": filters.user_id,
        "name": filters.name,
        "session_id": filters.session_id,
        "release": filters.release,
        "version": filters.version,
    }
    rows = rows.filter(**{column: value for column, value in exact.items() if value is not None})
    if filters.tags:
        rows = rows.filter(tags__contains=list(filters.tags))  # all of them, as Langfuse does
    if filters.environments:
        rows = rows.filter(environment__in=filters.environments)
    if filters.from_timestamp:
        rows = rows.filter(timestamp__gte=filters.from_timestamp)
    if filters.to_timestamp:
        rows = rows.filter(timestamp__lt=filters.to_timestamp)
    return rows


def traces_page(
    *, project_id: int, filters: TraceFilters, order_by: str, descending: bool, page: Page
) -> tuple[list[Trace], int]:
    """One page of traces and the total count. `order_by` is one of TRACE_ORDER_COLUMNS' values."""
    rows = _trace_queryset(project_id=project_id, filters=filters)
    prefix = "-" if descending else ""
    ordering = [f"{prefix}{order_by}"] + ([] if order_by == "id" else [f"{prefix}id"])
    total = rows.count()
    return list(rows.order_by(*ordering)[page.offset : page.offset + page.limit]), total


def trace_get(*, project_id: int, trace_id: str) -> Trace | None:
    return Trace.objects.filter(project_id=project_id, id=trace_id).first()


def observation_ids_by_trace(*, project_id: int, trace_ids: Sequence[str]) -> dict[str, list[str]]:
    rows = (
        Observation.objects.filter(project_id=project_id, trace_id__in=trace_ids)
        .values("trace_id")
        .annotate(ids=ArrayAgg("id", order_by="start_time"))
    )
    return {row["trace_id"]: row["ids"] for row in rows}


def score_ids_by_trace(*, project_id: int, trace_ids: Sequence[str]) -> dict[str, list[str]]:
    rows = (
        Score.objects.filter(project_id=project_id, trace_id__in=trace_ids)
        .values("trace_id")
        .annotate(ids=ArrayAgg("id", order_by="timestamp"))
    )
    return {row["trace_id"]: row["ids"] for row in rows}


def trace_observations(*, project_id: int, trace_id: str) -> list[Observation]:
    return list(Observation.objects.filter(project_id=project_id, trace_id=trace_id).order_by("start_time", "id"))


def trace_scores(*, project_id: int, trace_id: str) -> list[Score]:
    return list(Score.objects.filter(project_id=project_id, trace_id=trace_id).order_by("timestamp", "id"))


def traces_existing(*, project_id: int, trace_ids: Sequence[str]) -> list[str]:
    return list(Trace.objects.filter(project_id=project_id, id__in=trace_ids).values_list("id", flat=True))


# --- Observations ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObservationFilters:
    trace_id: str | None = None
    type: str | None = None
    name: str | None = None
    level: str | None = None
    parent_observation_id: str | None = None
    root_only: bool = False  # parentObservationId sent empty: only observations without a parent
    environments: tuple[str, ...] = ()
    version: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    from_start_time: datetime | None = None
    to_start_time: datetime | None = None


def _observation_queryset(*, project_id: int, filters: ObservationFilters) -> QuerySet[Observation]:
    rows = Observation.objects.filter(project_id=project_id)
    exact = {
        "trace_id": filters.trace_id,
        "type": filters.type,
        "name": filters.name,
        "level": filters.level,
        "parent_id": filters.parent_observation_id,
        "version": filters.version,
    }
    rows = rows.filter(**{column: value for column, value in exact.items() if value is not None})
    if filters.root_only:
        rows = rows.filter(parent_id__isnull=True)
    if filters.environments:
        rows = rows.filter(environment__in=filters.environments)
    if filters.from_start_time:
        rows = rows.filter(start_time__gte=filters.from_start_time)
    if filters.to_start_time:
        rows = rows.filter(start_time__lt=filters.to_start_time)
    trace_filter = {
        k: v for k, v in {"user_id": filters.user_id, "session_id": filters.session_id}.items() if v is not None
    }
    if trace_filter:
        trace_ids = Trace.objects.filter(project_id=project_id, **trace_filter).values("id")
        rows = rows.filter(trace_id__in=trace_ids)
    return rows


class CursorError(ValueError):
    pass


def cursor_encode(time: datetime, row_id: str) -> str:
    """An opaque keyset position: the last row's (time, id)."""
    raw = json.dumps([time.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor_decode(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        time, row_id = json.loads(raw)
        parsed = datetime.fromisoformat(time)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise CursorError("cursor is not one this API returned.") from exc
    if not isinstance(row_id, str) or parsed.tzinfo is None:
        raise CursorError("cursor is not one this API returned.")
    return parsed, row_id


def _keyset_page(rows: QuerySet[Any], time_field: str, cursor: str | None, limit: int) -> tuple[list[Any], str | None]:
    """Newest first over (time_field, id); the next cursor only when more rows exist."""
    if cursor:
        time, row_id = _cursor_decode(cursor)
        rows = rows.filter(Q(**{f"{time_field}__lt": time}) | Q(**{time_field: time, "id__lt": row_id}))
    found = list(rows.order_by(f"-{time_field}", "-id")[: limit + 1])
    if len(found) > limit:
        last = found[limit - 1]
        return found[:limit], cursor_encode(getattr(last, time_field), last.id)
    return found, None


def observations_after_cursor(
    *, project_id: int, filters: ObservationFilters, cursor: str | None, limit: int
) -> tuple[list[Observation], str | None]:
    rows = _observation_queryset(project_id=project_id, filters=filters)
    return _keyset_page(rows, "start_time", cursor, limit)


def observations_page(*, project_id: int, filters: ObservationFilters, page: Page) -> tuple[list[Observation], int]:
    rows = _observation_queryset(project_id=project_id, filters=filters)
    total = rows.count()
    return list(rows.order_by("-start_time", "-id")[page.offset : page.offset + page.limit]), total


def observation_get(*, project_id: int, observation_id: str) -> Observation | None:
    return Observation.objects.filter(project_id=project_id, id=observation_id).first()


def traces_by_id(*, project_id: int, trace_ids: Sequence[str]) -> dict[str, Trace]:
    """The traces of a page of observations or scores, for their trace context (one query)."""
    if not trace_ids:
        return {}
    rows = Trace.objects.filter(project_id=project_id, id__in=set(trace_ids)).only(
        "id", "name", "user_id", "session_id", "tags", "environment", "release", "public", "bookmarked"
    )
    return {row.id: row for row in rows}


# --- Scores ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreFilters:
    """Each tuple matches any of its values; an empty tuple does not filter."""

    ids: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    data_types: tuple[str, ...] = ()
    trace_ids: tuple[str, ...] = ()
    observation_ids: tuple[str, ...] = ()
    session_ids: tuple[str, ...] = ()
    dataset_run_ids: tuple[str, ...] = ()
    config_ids: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()
    user_id: str | None = None
    from_timestamp: datetime | None = None
    to_timestamp: datetime | None = None
    operator: str | None = None  # one of SCORE_OPERATORS, applied to `value`
    value: float | None = None
    value_min: float | None = None
    value_max: float | None = None


SCORE_OPERATORS = {"<": "lt", ">": "gt", "<=": "lte", ">=": "gte", "=": "exact", "!=": None, "<>": None}


def _score_queryset(*, project_id: int, filters: ScoreFilters) -> QuerySet[Score]:
    rows = Score.objects.filter(project_id=project_id)
    any_of = {
        "id": filters.ids,
        "name": filters.names,
        "source": filters.sources,
        "data_type": filters.data_types,
        "trace_id": filters.trace_ids,
        "observation_id": filters.observation_ids,
        "session_id": filters.session_ids,
        "dataset_run_id": filters.dataset_run_ids,
        "config_id": filters.config_ids,
        "environment": filters.environments,
    }
    rows = rows.filter(**{f"{column}__in": values for column, values in any_of.items() if values})
    if filters.from_timestamp:
        rows = rows.filter(timestamp__gte=filters.from_timestamp)
    if filters.to_timestamp:
        rows = rows.filter(timestamp__lt=filters.to_timestamp)
    if filters.value_min is not None:
        rows = rows.filter(value__gte=filters.value_min)
    if filters.value_max is not None:
        rows = rows.filter(value__lte=filters.value_max)
    if filters.user_id is not None:
        rows = rows.filter(
            trace_id__in=Trace.objects.filter(project_id=project_id, user_id=filters.user_id).values("id")
        )
    if filters.operator is not None and filters.value is not None:
        lookup = SCORE_OPERATORS[filters.operator]
        if lookup is None:
            rows = rows.exclude(value=filters.value)
        else:
            rows = rows.filter(**{f"value__{lookup}": filters.value})
    return rows


def scores_page(*, project_id: int, filters: ScoreFilters, page: Page) -> tuple[list[Score], int]:
    rows = _score_queryset(project_id=project_id, filters=filters)
    total = rows.count()
    return list(rows.order_by("-timestamp", "-id")[page.offset : page.offset + page.limit]), total


def scores_after_cursor(
    *, project_id: int, filters: ScoreFilters, cursor: str | None, limit: int
) -> tuple[list[Score], str | None]:
    return _keyset_page(_score_queryset(project_id=project_id, filters=filters), "timestamp", cursor, limit)


def score_get(*, project_id: int, score_id: str) -> Score | None:
    return Score.objects.filter(project_id=project_id, id=score_id).first()


# --- Sessions --------------------------------------------------------------------------------------


def sessions_page(
    *,
    project_id: int,
    page: Page,
    from_timestamp: datetime | None,
    to_timestamp: datetime | None,
    environments: tuple[str, ...],
) -> tuple[list[Session], int]:
    rows = Session.objects.filter(project_id=project_id)
    if from_timestamp:
        rows = rows.filter(created_at__gte=from_timestamp)
    if to_timestamp:
        rows = rows.filter(created_at__lt=to_timestamp)
    if environments:
        rows = rows.filter(environment__in=environments)
    total = rows.count()
    return list(rows.order_by("-created_at", "id")[page.offset : page.offset + page.limit]), total


def session_get(*, project_id: int, session_id: str) -> Session | None:
    return Session.objects.filter(project_id=project_id, id=session_id).first()


def session_traces(*, project_id: int, session_id: str) -> list[Trace]:
    return list(Trace.objects.filter(project_id=project_id, session_id=session_id).order_by("timestamp", "id"))


# --- Daily metrics ---------------------------------------------------------------------------------


@dataclass
class ModelUsage:
    model: str | None
    input_usage: int = 0
    output_usage: int = 0
    total_usage: int = 0
    count_traces: int = 0
    count_observations: int = 0
    total_cost: float = 0.0


@dataclass
class DailyMetrics:
    date: date
    count_traces: int = 0
    count_observations: int = 0
    total_cost: float = 0.0
    usage: list[ModelUsage] = field(default_factory=list)


def metrics_daily(*, project_id: int, filters: TraceFilters, page: Page) -> tuple[list[DailyMetrics], int]:
    """Per UTC day of the trace timestamp (newest first): traces, and their observations' counts, usage and
    cost, in total and per model. Two grouped queries per page whatever the number of traces."""
    traces = _trace_queryset(project_id=project_id, filters=filters)
    traces_sql, traces_params = traces.values("id", "timestamp").query.sql_with_params()
    with connection.cursor() as cursor:
        # Days first (paged), then the observations of those days' traces grouped by day and model.
        cursor.execute(
            f"SELECT (t.timestamp AT TIME ZONE 'UTC')::date AS day, COUNT(*) FROM ({traces_sql}) t "  # noqa: S608
            "GROUP BY day ORDER BY day DESC",
            traces_params,
        )
        all_days = cursor.fetchall()
        days = all_days[page.offset : page.offset + page.limit]
        if not days:
            return [], len(all_days)
        by_day = {day: DailyMetrics(date=day, count_traces=count) for day, count in days}
        cursor.execute(
            f"SELECT (t.timestamp AT TIME ZONE 'UTC')::date AS day, o.model, COUNT(*), COUNT(DISTINCT o.trace_id), "  # noqa: S608
            "COALESCE(SUM(o.input_tokens), 0), COALESCE(SUM(o.output_tokens), 0), COALESCE(SUM(o.total_tokens), 0), "
            f"COALESCE(SUM(o.total_cost), 0) FROM ({traces_sql}) t "
            "JOIN traces_observation o ON o.project_id = %s AND o.trace_id = t.id "
            "WHERE (t.timestamp AT TIME ZONE 'UTC')::date = ANY(%s) GROUP BY day, o.model ORDER BY day, o.model",
            [*traces_params, project_id, list(by_day)],
        )
        models: dict[date, list[ModelUsage]] = defaultdict(list)
        for day, model, n_obs, n_traces, input_usage, output_usage, total_usage, cost in cursor.fetchall():
            day_metrics = by_day[day]
            day_metrics.count_observations += n_obs
            day_metrics.total_cost += float(cost)
            if model is not None:
                models[day].append(
                    ModelUsage(
                        model, int(input_usage), int(output_usage), int(total_usage), n_traces, n_obs, float(cost)
                    )
                )
    for day, usage in models.items():
        by_day[day].usage = usage
    return [by_day[day] for day, _ in days], len(all_days)


# --- Score configs ---------------------------------------------------------------------------------


def score_configs_page(*, project_id: int, page: Page) -> tuple[list[ScoreConfig], int]:
    rows = ScoreConfig.objects.filter(project_id=project_id)
    return list(rows.order_by("-created_at", "-id")[page.offset : page.offset + page.limit]), rows.count()


def score_config_get(*, project_id: int, config_id: str) -> ScoreConfig | None:
    if not config_id.isdigit() or len(config_id) > 18:
        return None
    return ScoreConfig.objects.filter(project_id=project_id, pk=int(config_id)).first()


def score_config_name_taken(*, project_id: int, name: str, exclude_id: int | None = None) -> bool:
    return ScoreConfig.objects.filter(project_id=project_id, name=name).exclude(pk=exclude_id).exists()


def any_project_allows_origin(*, origin: str) -> bool:
    """For CORS preflights, which carry no key: does any project list this origin?"""
    return Project.objects.filter(allowed_origins__contains=[origin]).exists()


def project_allowed_origins(*, project_id: int) -> list[str]:
    """The project's feedback origins, normalised like browsers send Origin (lower case, no trailing slash)."""
    stored = Project.objects.filter(pk=project_id).values_list("allowed_origins", flat=True).first() or []
    return [str(origin).rstrip("/").lower() for origin in stored]


# --- Metrics queries (GET /api/public/metrics, /api/public/v2/metrics) ------------------------------
#
# Langfuse's query engine, on PostgreSQL: a view (traces, observations, scores-numeric, scores-categorical)
# is one table, a row per entity, with the trace (and for scores the observation) joined when a field needs it.
# Every SQL fragment below is a constant of this module; a query only picks names from these tables, and every
# value it carries (times, filter values, metadata keys, the row limit) is a bound parameter.


@dataclass(frozen=True)
class MetricField:
    """A dimension (group by it, filter on it). `kind`: string, number, boolean or array (tags)."""

    sql: str
    kind: str = "string"
    joins: tuple[str, ...] = ()  # "trace", "observation": joined tables the expression reads


@dataclass(frozen=True)
class MetricMeasure:
    sql: str  # per row; aggregated by the query's aggregation
    integer: bool = False  # sums, minima and maxima stay integers
    joins: tuple[str, ...] = ()


@dataclass(frozen=True)
class MetricView:
    table: str  # "traces_trace t"
    alias: str
    time_fields: tuple[str, ...]  # names a filter may use for the time column (Langfuse's first)
    time_sql: str
    dimensions: dict[str, MetricField]
    measures: dict[str, MetricMeasure]
    joins: dict[str, str]
    segment: str = ""  # a constant condition: which rows belong to the view
    high_cardinality: frozenset[str] = frozenset()  # the v2 API refuses to group by these
    name_alias: str | None = None  # Langfuse's filter column for the view's own `name` (traceName on traces)


def _ms(later: str, earlier: str) -> str:
    return f"(EXTRACT(EPOCH FROM ({later} - {earlier})) * 1000)"


# The sum of the cost types whose name contains "input" (or "output"), as Langfuse's inputCost/outputCost.
_COST_OF_TYPES = (
    "(CASE WHEN jsonb_typeof(o.cost) = 'object' THEN (SELECT SUM(c.value::numeric) FROM jsonb_each(o.cost) c "
    "WHERE jsonb_typeof(c.value) = 'number' AND strpos(lower(c.key), '{}') > 0) END)"
)


def _month(column: str) -> str:
    return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM')"


def _day(column: str) -> str:
    return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


_T = ("trace",)
_O = ("observation",)
_TRACE_OF = {
    "traceName": MetricField("t.name", joins=_T),
    "userId": MetricField("t.user_id", joins=_T),
    "sessionId": MetricField("t.session_id", joins=_T),
    "tags": MetricField("t.tags", "array", _T),
    "traceRelease": MetricField("t.release", joins=_T),
    "traceVersion": MetricField("t.version", joins=_T),
}
_COUNT = MetricMeasure("1", integer=True)


def _score_view(segment: str, value_field: tuple[str, MetricField], measures: dict[str, MetricMeasure]) -> MetricView:
    return MetricView(
        table="traces_score s",
        alias="s",
        time_fields=("timestamp",),
        time_sql="s.timestamp",
        segment=segment,
        dimensions={
            "id": MetricField("s.id"),
            "name": MetricField("s.name"),
            "scoreName": MetricField("s.name"),
            "source": MetricField("s.source"),
            "dataType": MetricField("s.data_type"),
            "environment": MetricField("s.environment"),
            "configId": MetricField("s.config_id"),
            "traceId": MetricField("s.trace_id"),
            "observationId": MetricField("s.observation_id"),
            "timestampMonth": MetricField(_month("s.timestamp")),
            "timestampDay": MetricField(_day("s.timestamp")),
            **_TRACE_OF,
            "sessionId": MetricField("COALESCE(s.session_id, t.session_id)", joins=_T),
            "observationName": MetricField("o.name", joins=_O),
            "observationModelName": MetricField("o.model", joins=_O),
            "observationPromptName": MetricField("o.prompt_name", joins=_O),
            "observationPromptVersion": MetricField("o.prompt_version", "number", _O),
            value_field[0]: value_field[1],
        },
        measures=measures,
        joins={
            "trace": "LEFT JOIN traces_trace t ON t.project_id = s.project_id AND t.id = s.trace_id",
            "observation": "LEFT JOIN traces_observation o ON o.project_id = s.project_id AND o.id = s.observation_id",
        },
        high_cardinality=frozenset({"id", "traceId", "userId", "sessionId", "observationId"}),
    )


METRIC_VIEWS: dict[str, MetricView] = {
    "traces": MetricView(
        table="traces_trace t",
        alias="t",
        time_fields=("timestamp",),
        time_sql="t.timestamp",
        dimensions={
            "id": MetricField("t.id"),
            "name": MetricField("t.name"),
            "userId": MetricField("t.user_id"),
            "sessionId": MetricField("t.session_id"),
            "release": MetricField("t.release"),
            "version": MetricField("t.version"),
            "environment": MetricField("t.environment"),
            "tags": MetricField("t.tags", "array"),
            "timestampMonth": MetricField(_month("t.timestamp")),
            "timestampDay": MetricField(_day("t.timestamp")),
        },
        measures={
            "count": _COUNT,
            "observationsCount": MetricMeasure("t.observation_count", integer=True),
            "latency": MetricMeasure("t.latency_ms", integer=True),
            "totalCost": MetricMeasure("t.total_cost"),
            "totalTokens": MetricMeasure("t.total_tokens", integer=True),
            "inputTokens": MetricMeasure("t.input_tokens", integer=True),
            "outputTokens": MetricMeasure("t.output_tokens", integer=True),
        },
        joins={},
        name_alias="traceName",
    ),
    "observations": MetricView(
        table="traces_observation o",
        alias="o",
        time_fields=("start_time", "startTime"),
        time_sql="o.start_time",
        dimensions={
            "id": MetricField("o.id"),
            "traceId": MetricField("o.trace_id"),
            "parentObservationId": MetricField("o.parent_id"),
            "isRootObservation": MetricField("(o.parent_id IS NULL)", "boolean"),
            "type": MetricField("o.type"),
            "name": MetricField("o.name"),
            "level": MetricField("o.level"),
            "environment": MetricField("o.environment"),
            "version": MetricField("o.version"),
            "providedModelName": MetricField("o.model"),
            "promptName": MetricField("o.prompt_name"),
            "promptVersion": MetricField("o.prompt_version", "number"),
            "startTimeMonth": MetricField(_month("o.start_time")),
            **_TRACE_OF,
            "release": MetricField("t.release", joins=_T),
        },
        measures={
            "count": _COUNT,
            "latency": MetricMeasure(_ms("o.end_time", "o.start_time")),
            "streamingLatency": MetricMeasure(_ms("o.end_time", "o.completion_start_time")),
            "timeToFirstToken": MetricMeasure(_ms("o.completion_start_time", "o.start_time")),
            "inputTokens": MetricMeasure("o.input_tokens", integer=True),
            "outputTokens": MetricMeasure("o.output_tokens", integer=True),
            "totalTokens": MetricMeasure("o.total_tokens", integer=True),
            "inputCost": MetricMeasure(_COST_OF_TYPES.format("input")),
            "outputCost": MetricMeasure(_COST_OF_TYPES.format("output")),
            "totalCost": MetricMeasure("o.total_cost"),
        },
        joins={"trace": "LEFT JOIN traces_trace t ON t.project_id = o.project_id AND t.id = o.trace_id"},
        high_cardinality=frozenset({"id", "traceId", "userId", "sessionId", "parentObservationId"}),
        name_alias="observationName",
    ),
    "scores-numeric": _score_view(
        "s.data_type IN ('NUMERIC', 'BOOLEAN')",
        ("value", MetricField("s.value", "number")),
        {"count": _COUNT, "value": MetricMeasure("s.value")},
    ),
    "scores-categorical": _score_view(
        "s.data_type = 'CATEGORICAL'", ("stringValue", MetricField("s.string_value")), {"count": _COUNT}
    ),
}

# Aggregation → SQL around the measure's expression (`{}`).
METRIC_AGGREGATIONS = {
    "count": "COUNT({})",
    "sum": "COALESCE(SUM({}), 0)",
    "avg": "AVG({})",
    "min": "MIN({})",
    "max": "MAX({})",
    "uniq": "COUNT(DISTINCT {})",
    **{f"p{n}": f"percentile_cont(0.{n}) WITHIN GROUP (ORDER BY {{}})" for n in (50, 75, 90, 95, 99)},
}
_INTEGER_AGGREGATIONS = {"count", "uniq"}
_KEEPS_TYPE = {"sum", "min", "max"}
METRIC_GRANULARITIES = ("minute", "hour", "day", "week", "month")


@dataclass(frozen=True)
class MetricFilter:
    """`column` is a dimension, one of the view's time fields or "metadata" (with `key`); `operator` is one of
    FILTER_SQL's; `value` is already checked against the column's kind."""

    column: str
    operator: str
    value: Any = None
    key: str | None = None


@dataclass(frozen=True)
class Metric:
    measure: str
    aggregation: str

    @property
    def alias(self) -> str:
        return f"{self.aggregation}_{self.measure}"


@dataclass(frozen=True)
class MetricsQuery:
    """A checked query (traces/public_api.py `metrics_query_parse`): every name is one of the view's."""

    view: str
    dimensions: tuple[str, ...]
    metrics: tuple[Metric, ...]
    filters: tuple[MetricFilter, ...]
    granularity: str | None
    from_timestamp: datetime
    to_timestamp: datetime
    order_by: tuple[tuple[str, bool], ...]  # (output field, descending)
    row_limit: int


TIME_DIMENSION = "time_dimension"

# Operator → SQL with the column expression as {c} and one bound parameter (%s) where it takes a value.
# Negations keep rows whose column is NULL (Langfuse stores empty strings, which never match).
FILTER_SQL = {
    "=": "{c} = %s",
    "!=": "{c} IS DISTINCT FROM %s",
    ">": "{c} > %s",
    "<": "{c} < %s",
    ">=": "{c} >= %s",
    "<=": "{c} <= %s",
    "contains": "{c} ILIKE %s",
    "does not contain": "NOT COALESCE({c} ILIKE %s, false)",
    "starts with": "{c} ILIKE %s",
    "ends with": "{c} ILIKE %s",
    "any of": "{c} = ANY(%s)",
    "none of": "NOT COALESCE({c} = ANY(%s), false)",
    "is null": "{c} IS NULL",
    "is not null": "{c} IS NOT NULL",
}
ARRAY_FILTER_SQL = {
    "any of": "{c}::text[] && %s::text[]",
    "all of": "{c}::text[] @> %s::text[]",
    "none of": "NOT COALESCE({c}::text[] && %s::text[], false)",
    "is null": "cardinality({c}) = 0",
    "is not null": "cardinality({c}) > 0",
}


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filter_param(operator: str, value: Any) -> Any:
    if operator in ("contains", "does not contain"):
        return f"%{_escape_like(value)}%"
    if operator == "starts with":
        return f"{_escape_like(value)}%"
    if operator == "ends with":
        return f"%{_escape_like(value)}"
    return list(value) if isinstance(value, tuple) else value


def _metric_value(value: Any, *, integer: bool) -> Any:
    if isinstance(value, Decimal):
        return int(value) if integer and value == value.to_integral_value() else float(value)
    if isinstance(value, float) and integer and value.is_integer():
        return int(value)
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
    return value


def metrics_query(*, project_id: int, query: MetricsQuery) -> list[dict[str, Any]]:
    """Langfuse's metrics rows (`{<dimension>: …, "time_dimension": …, "<aggregation>_<measure>": …}`) for one
    project and time range. One SQL statement, built from METRIC_VIEWS' constants with bound values only."""
    view = METRIC_VIEWS[query.view]
    params: list[Any] = []
    columns: list[str] = []  # SELECT list, in output order
    names: list[str] = []
    integers: list[bool] = []
    joins: set[str] = set()
    lateral = ""

    for name in query.dimensions:
        field_ = view.dimensions[name]
        joins.update(field_.joins)
        if field_.kind == "array":  # one row per tag, as Langfuse's arrayJoin (untagged rows drop out)
            lateral = f" CROSS JOIN LATERAL unnest({field_.sql}) AS dimension_tag(tag)"
            columns.append("dimension_tag.tag")
        else:
            columns.append(field_.sql)
        names.append(name)
        integers.append(field_.kind == "number")
    if query.granularity:
        columns.append(f"date_trunc(%s, {view.time_sql} AT TIME ZONE 'UTC')")
        params.append(query.granularity)
        names.append(TIME_DIMENSION)
        integers.append(False)
    groups = len(columns)
    for metric in query.metrics:
        measure = view.measures[metric.measure]
        joins.update(measure.joins)
        expression = "*" if measure is _COUNT and metric.aggregation == "count" else measure.sql
        columns.append(METRIC_AGGREGATIONS[metric.aggregation].format(expression))
        names.append(metric.alias)
        integers.append(
            metric.aggregation in _INTEGER_AGGREGATIONS or (measure.integer and metric.aggregation in _KEEPS_TYPE)
        )

    where = [f"{view.alias}.project_id = %s", f"{view.time_sql} >= %s", f"{view.time_sql} <= %s"]
    params += [project_id, query.from_timestamp, query.to_timestamp]
    if view.segment:
        where.append(view.segment)
    for item in query.filters:
        if item.column == "metadata":
            metadata = f"{view.alias}.metadata"
            column, kind = f"(CASE WHEN jsonb_typeof({metadata}) = 'object' THEN {metadata} ->> %s END)", "string"
            params.append(item.key)
        elif item.column in view.time_fields:
            column, kind = view.time_sql, "datetime"
        else:
            field_ = view.dimensions[item.column]
            joins.update(field_.joins)
            column, kind = field_.sql, field_.kind
        template = (ARRAY_FILTER_SQL if kind == "array" else FILTER_SQL)[item.operator]
        where.append("(" + template.format(c=column) + ")")
        if "%s" in template:
            params.append(_filter_param(item.operator, item.value))

    positions = {name: index + 1 for index, name in enumerate(names)}
    order = [(positions[field_], descending) for field_, descending in query.order_by]
    order += [(position, False) for position in range(1, groups + 1) if position not in dict(order)]
    sql = (
        f"SELECT {', '.join(columns)} FROM {view.table}"  # noqa: S608 - constants of this module only
        + "".join(f" {view.joins[name]}" for name in sorted(joins))
        + lateral
        + f" WHERE {' AND '.join(where)}"
        + (f" GROUP BY {', '.join(str(p) for p in range(1, groups + 1))}" if groups else "")
        + (" ORDER BY " + ", ".join(f"{p} {'DESC' if d else 'ASC'} NULLS LAST" for p, d in order) if order else "")
        + " LIMIT %s"
    )
    params.append(query.row_limit)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    return [
        {name: _metric_value(value, integer=integer) for name, value, integer in zip(names, row, integers, strict=True)}
        for row in found
    ]
