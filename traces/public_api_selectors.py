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
