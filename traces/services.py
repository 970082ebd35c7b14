"""Writes for traces: the bulk write step shared by ingestion and demo data.

One statement per table per call, whatever the number of rows: rows travel as parallel arrays
and are expanded with `unnest`, then upserted. Merges are idempotent: a later non-null value wins,
metadata objects merge, tags union. Rows for one id inside a batch are merged in Python first
(an upsert may not touch the same row twice). Ids are written in sorted order so two concurrent
batches lock rows in the same order and cannot deadlock.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson
import psycopg
from django.db import IntegrityError, connection, transaction
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django.utils import timezone

from projects.models import ApiKey, Project, User
from projects.services import Conflict, audit_record
from traces.models import Observation, Score, ScoreConfig, ScoreSource, Trace

if TYPE_CHECKING:  # selectors may import from services; only the type is needed here
    from traces.selectors import ScoreTarget


@dataclass
class TraceIn:
    id: str
    timestamp: datetime
    name: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    tags: list[str] = field(default_factory=list)
    metadata: Any = None
    input: Any = None
    output: Any = None
    environment: str | None = None
    release: str | None = None
    version: str | None = None
    public: bool | None = None
    # Rollups: set by the write step from the trace's stored observations, never by callers.
    end_time: datetime | None = None
    latency_ms: int | None = None
    total_cost: Decimal | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    observation_count: int = 0
    error_count: int = 0


@dataclass
class ObservationIn:
    id: str
    trace_id: str
    start_time: datetime
    type: str | None = None  # None = not sent: SPAN for a new row, unchanged for a stored one
    parent_id: str | None = None
    name: str | None = None
    end_time: datetime | None = None
    completion_start_time: datetime | None = None
    level: str | None = None
    status_message: str | None = None
    model: str | None = None
    model_parameters: Any = None
    input: Any = None
    output: Any = None
    metadata: Any = None
    usage: dict[str, int] | None = None
    cost: dict[str, float] | None = None
    cost_source: str | None = None
    price_id: int | None = None
    prompt_name: str | None = None
    prompt_version: int | None = None
    environment: str | None = None
    version: str | None = None

    @property
    def input_tokens(self) -> int | None:
        return (self.usage or {}).get("input")

    @property
    def output_tokens(self) -> int | None:
        return (self.usage or {}).get("output")

    @property
    def total_tokens(self) -> int | None:
        if not self.usage:
            return None
        return self.usage.get("total", sum(v for k, v in self.usage.items() if k in ("input", "output")))

    @property
    def total_cost(self) -> Decimal | None:
        if not self.cost:
            return None
        return Decimal(str(self.cost.get("total", sum(v for k, v in self.cost.items() if k != "total"))))


@dataclass
class ScoreIn:
    id: str
    name: str
    timestamp: datetime
    value: float | None = None
    string_value: str | None = None
    data_type: str | None = None  # None = not sent: NUMERIC / API for a new row
    source: str | None = None
    trace_id: str | None = None
    observation_id: str | None = None
    session_id: str | None = None
    dataset_run_id: str | None = None
    comment: str | None = None
    metadata: Any = None
    author_user_id: int | None = None
    config_id: str | None = None
    environment: str | None = None


@dataclass
class WriteResult:
    traces: int
    observations: int
    scores: int


# How each column merges on conflict: "keep" = later non-null wins, "earliest" = the smaller time,
# "merge" = JSON objects merge, "tags" = union, "rollup" = the batch's value (computed from all stored
# observations, so it replaces the stored one).
_JSON = "jsonb"
_TRACE_COLUMNS: list[tuple[str, str, str]] = [
    # (column, SQL type of the array, merge rule)
    ("id", "text", "key"),
    ("timestamp", "timestamptz", "earliest"),
    ("name", "text", "keep"),
    ("user_id", "text", "keep"),
    ("session_id", "text", "keep"),
    ("tags", _JSON, "tags"),
    ("metadata", _JSON, "merge"),
    ("input", _JSON, "keep"),
    ("output", _JSON, "keep"),
    ("environment", "text", "keep"),
    ("release", "text", "keep"),
    ("version", "text", "keep"),
    ("public", "boolean", "keep"),
    ("end_time", "timestamptz", "rollup"),
    ("latency_ms", "bigint", "rollup"),
    ("total_cost", "numeric", "rollup"),
    ("input_tokens", "bigint", "rollup"),
    ("output_tokens", "bigint", "rollup"),
    ("total_tokens", "bigint", "rollup"),
    ("observation_count", "integer", "rollup"),
    ("error_count", "integer", "rollup"),
]
_OBSERVATION_COLUMNS: list[tuple[str, str, str]] = [
    ("id", "text", "key"),
    ("trace_id", "text", "keep"),
    ("parent_id", "text", "keep"),
    ("type", "text", "keep"),
    ("name", "text", "keep"),
    ("start_time", "timestamptz", "earliest"),
    ("end_time", "timestamptz", "keep"),
    ("completion_start_time", "timestamptz", "keep"),
    ("level", "text", "keep"),
    ("status_message", "text", "keep"),
    ("model", "text", "keep"),
    ("model_parameters", _JSON, "keep"),
    ("input", _JSON, "keep"),
    ("output", _JSON, "keep"),
    ("metadata", _JSON, "merge"),
    ("usage", _JSON, "keep"),
    ("input_tokens", "bigint", "keep"),
    ("output_tokens", "bigint", "keep"),
    ("total_tokens", "bigint", "keep"),
    ("cost", _JSON, "keep"),
    ("total_cost", "numeric", "keep"),
    ("cost_source", "text", "keep"),
    ("price_id", "bigint", "keep"),
    ("prompt_name", "text", "keep"),
    ("prompt_version", "integer", "keep"),
    ("environment", "text", "keep"),
    ("version", "text", "keep"),
]
_SCORE_COLUMNS: list[tuple[str, str, str]] = [
    ("id", "text", "key"),
    ("name", "text", "keep"),
    ("value", "double precision", "keep"),
    ("string_value", "text", "keep"),
    ("data_type", "text", "keep"),
    ("source", "text", "keep"),
    ("trace_id", "text", "keep"),
    ("observation_id", "text", "keep"),
    ("session_id", "text", "keep"),
    ("dataset_run_id", "text", "keep"),
    ("comment", "text", "keep"),
    ("metadata", _JSON, "merge"),
    ("author_user_id", "bigint", "keep"),
    ("config_id", "text", "keep"),
    ("environment", "text", "keep"),
    ("timestamp", "timestamptz", "keep"),
]
# Columns that are NOT NULL in the table: a null in the batch falls back to the table default.
_DEFAULTS = {
    "environment": "'default'",
    "level": "'DEFAULT'",
    "type": "'SPAN'",
    "public": "false",
    "data_type": "'NUMERIC'",
    "source": "'API'",
    "tags": "'{}'",
}


def _merge_rule(old: str, new: str, rule: str) -> str:
    """SQL for a column's merged value, from the stored (`old`) and arriving (`new`, NULL = not sent) ones."""
    if rule == "merge":
        return (
            f"CASE WHEN jsonb_typeof({old}) = 'object' AND jsonb_typeof({new}) = 'object' "
            f"THEN {old} || {new} ELSE COALESCE({new}, {old}) END"
        )
    if rule == "earliest":
        # Things start at the earliest time any report gives, whatever order the reports arrive in.
        return f"LEAST({old}, {new})"
    if rule == "tags":
        return f"ARRAY(SELECT DISTINCT unnest({old} || {new}) ORDER BY 1)"
    if rule == "rollup":
        return new
    return f"COALESCE({new}, {old})"


def _typed(name: str, sql_type: str) -> str:
    """A batch column with its real type, still NULL where the client did not send it."""
    if name == "tags":
        return "CASE WHEN r.tags IS NULL THEN NULL ELSE ARRAY(SELECT jsonb_array_elements_text(r.tags::jsonb)) END"
    return f"r.{name}::jsonb" if sql_type == _JSON else f"r.{name}"


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return orjson.dumps(value, default=str).decode()
    except TypeError:  # integers beyond 64 bits and other rarities orjson refuses
        return json.dumps(value, separators=(",", ":"), default=str)


def _upsert(
    table: str,
    columns: list[tuple[str, str, str]],
    project_id: int,
    rows: Sequence[Any],
    *,
    update: bool = True,
    rollups_only: bool = False,
) -> None:
    """Upserts `rows` in one statement: rows as parallel arrays, expanded with `unnest`.

    A column a row leaves out (NULL) never overwrites a stored value nor resets it to its default.
    `rollups_only`: a stored row takes only the "rollup" columns (placeholder traces never move a stored
    trace's fields).
    """
    if not rows:
        return
    names = [name for name, _, _ in columns]
    arrays: list[list[Any]] = []
    for name, sql_type, _ in columns:
        values = [getattr(row, name) for row in rows]
        arrays.append([_json_text(v) for v in values] if sql_type == _JSON else values)
    # jsonb travels as text (an array of jsonb would need per-value adaptation) and is cast back.
    array_types = ["text" if sql_type == _JSON else sql_type for _, sql_type, _ in columns]
    # %b: arrays travel in binary (no per-element text escaping on either side).
    unnest_args = ", ".join(f"%(a{i})b::{t}[]" for i, t in enumerate(array_types))
    typed = ", ".join(f"{_typed(name, sql_type)} AS {name}" for name, sql_type, _ in columns)
    with_defaults = ", ".join(
        f"COALESCE(u.{name}, {_DEFAULTS[name]})" if name in _DEFAULTS else f"u.{name}" for name in names
    )
    merged = [(name, rule) for name, _, rule in columns if rule != "key"]
    on_conflict = ", ".join(f"{name} = {_merge_rule(f'o.{name}', f'EXCLUDED.{name}', rule)}" for name, rule in merged)
    # Only constant table and column names are interpolated; every value is a bound parameter.
    batch = f"u AS (SELECT {typed} FROM unnest({unnest_args}) AS r({', '.join(names)}))"  # noqa: S608
    # The short alias keeps these statements under psycopg's 4 KB limit for caching their parsed form.
    insert = f"INSERT INTO {table} AS o (project_id, {', '.join(names)}) SELECT %(project)s, {with_defaults} FROM u "  # noqa: S608
    defaulted = [name for name in names if name in _DEFAULTS]
    if not update:
        sql = f"WITH {batch} {insert} ON CONFLICT (project_id, id) DO NOTHING"
    elif rollups_only:
        rollups = ", ".join(f"{name} = EXCLUDED.{name}" for name, rule in merged if rule == "rollup")
        sql = f"WITH {batch} {insert} ON CONFLICT (project_id, id) DO UPDATE SET {rollups}, updated_at = now()"
    elif all(getattr(row, name) is not None for row in rows for name in defaulted):
        # Whole rows (every defaulted column sent, as OTLP spans are): EXCLUDED holds what was sent, so one
        # INSERT … ON CONFLICT merges correctly with a single index probe per row.
        sql = f"WITH {batch} {insert} ON CONFLICT (project_id, id) DO UPDATE SET {on_conflict}, updated_at = now()"
    else:
        # Partial rows: update stored rows from the values as sent (NULL = not sent), so a column left out is
        # never reset to its default; insert the new ones with defaults. ON CONFLICT only catches a row another
        # transaction inserted meanwhile. The project is joined from u, not given as a constant: with a constant,
        # a project the planner had no statistics for yet looked tiny, and it hash-joined the batch against all
        # of the project's rows (read through any project index) instead of probing the primary key per row.
        from_batch = ", ".join(f"{name} = {_merge_rule(f't.{name}', f'u.{name}', rule)}" for name, rule in merged)
        # MATERIALIZED, with the project as a column of u: the planner cannot inline the batch into the join.
        batch = (
            f"u AS MATERIALIZED (SELECT %(project)s::bigint AS project_id, {typed} "  # noqa: S608
            f"FROM unnest({unnest_args}) AS r({', '.join(names)}))"
        )
        sql = (
            f"WITH {batch}, updated AS (UPDATE {table} t SET {from_batch}, updated_at = now() FROM u "  # noqa: S608
            f"WHERE t.project_id = u.project_id AND t.id = u.id RETURNING t.id) "
            f"{insert} WHERE u.id NOT IN (SELECT id FROM updated) "
            f"ON CONFLICT (project_id, id) DO UPDATE SET {on_conflict}, updated_at = now()"
        )
    params = {"project": project_id, **{f"a{i}": values for i, values in enumerate(arrays)}}
    with _bound_cursor() as cursor:
        cursor.execute(sql, params)


def _bound_cursor() -> CursorWrapper:
    """A server-side-binding cursor on Django's connection (same transaction).

    Django's default ClientCursor inlines every parameter as an SQL literal: for these statements that
    means quoting every array element in Python (≈half the write step's client CPU) and PostgreSQL parsing
    a statement of megabytes. Bound parameters travel as-is, and the fixed statement text gets prepared.
    Django's wrapper keeps its error translation (DataError etc.) and query logging.
    """
    connection.ensure_connection()
    wrapper = CursorDebugWrapper if connection.queries_logged else CursorWrapper
    return wrapper(psycopg.Cursor(connection.connection), connection)


def _merge_by_id[T](rows: Iterable[T], columns: list[tuple[str, str, str]]) -> list[T]:
    """Folds repeated ids in one batch into one row by the columns' merge rules, as the upsert merges a row
    with a stored one (objects merge, tags union, the earliest time; otherwise a later non-null value wins),
    sorted by id."""
    rules = {name: rule for name, _, rule in columns}
    merged: dict[str, T] = {}
    for row in rows:
        previous = merged.get(row.id)  # type: ignore[attr-defined]
        if previous is None:
            merged[row.id] = row  # type: ignore[attr-defined]
            continue
        for f in fields(row):  # type: ignore[arg-type]
            value = getattr(row, f.name)
            if value is None or value == []:
                continue
            old, rule = getattr(previous, f.name), rules.get(f.name)
            if rule == "merge" and isinstance(old, dict) and isinstance(value, dict):
                value = {**old, **value}
            elif rule == "tags" and old:
                value = sorted({*old, *value})
            elif rule == "earliest" and old is not None:
                value = min(old, value)
            setattr(previous, f.name, value)
    return [merged[key] for key in sorted(merged)]


def observations_merge(rows: Iterable[ObservationIn]) -> list[ObservationIn]:
    """A batch's observations with one row per id, merged as the write step stores them (callers that derive
    values from a whole observation, such as its cost, merge first)."""
    return _merge_by_id(rows, _OBSERVATION_COLUMNS)


def trace_rollups_refresh(*, project_id: int, trace_ids: list[str]) -> None:
    """Recomputes end time, latency, cost, tokens and counts from all of each trace's observations.

    A full recompute per touched trace (not an increment) keeps the rollups right when spans trickle
    in across requests, arrive twice, or are updated. Ingestion folds the same values into its trace
    upsert instead (`_rollups_attach`); this is for changes made after the fact (recost).
    """
    if not trace_ids:
        return
    sql = """
        UPDATE traces_trace t SET
            end_time = GREATEST(agg.end_time, t.timestamp),
            latency_ms = (EXTRACT(EPOCH FROM (GREATEST(agg.end_time, t.timestamp) - t.timestamp)) * 1000)::bigint,
            total_cost = agg.total_cost,
            input_tokens = agg.input_tokens,
            output_tokens = agg.output_tokens,
            total_tokens = agg.total_tokens,
            observation_count = agg.observation_count,
            error_count = agg.error_count,
            updated_at = now()
        FROM sightline_trace_rollups(%(project)s, %(ids)s) agg  -- migration 0007
        WHERE t.project_id = %(project)s AND t.id = agg.trace_id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"project": project_id, "ids": trace_ids})


def _rollups_attach(project_id: int, rows: Sequence[TraceIn]) -> None:
    """Sets each trace row's rollups from its stored observations, so that the trace upsert writes every
    trace once per batch: a separate UPDATE would add a row version, and with it an entry in every index
    of the table (the search trigrams included). One query for the aggregates and the stored timestamps:
    the latency counts from the earliest timestamp, as the upsert's merge will keep it."""
    if not rows:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT * FROM sightline_trace_rollups(%s, %s)",  # migration 0007
            [project_id, [row.id for row in rows]],
        )
        found = {record[0]: record[1:] for record in cursor.fetchall()}
    for row in rows:
        if row.id not in found:
            continue  # no observations: the rollups stay empty
        end, row.total_cost, row.input_tokens, row.output_tokens, row.total_tokens, count, errors, stored = found[
            row.id
        ]
        row.observation_count, row.error_count = count, errors
        start = row.timestamp if stored is None else min(stored, row.timestamp)
        row.end_time = max(end, start)
        # Whole milliseconds, halves rounded up, as the numeric → bigint cast rounds.
        row.latency_ms = ((row.end_time - start) // timedelta(microseconds=1) + 500) // 1000


@transaction.atomic
def trace_batch_write(
    *,
    project_id: int,
    traces: Iterable[TraceIn] = (),
    observations: Iterable[ObservationIn] = (),
    scores: Iterable[ScoreIn] = (),
) -> WriteResult:
    """Stores a normalised batch durably; safe to repeat with the same or overlapping rows."""
    trace_rows = _merge_by_id(traces, _TRACE_COLUMNS)
    observation_rows = observations_merge(observations)
    score_rows = _merge_by_id(scores, _SCORE_COLUMNS)

    # Observations first: the traces' rollups are computed from them and written with the traces.
    _upsert("traces_observation", _OBSERVATION_COLUMNS, project_id, observation_rows)
    _upsert("traces_score", _SCORE_COLUMNS, project_id, score_rows)
    # Observations may arrive before their trace: a placeholder the real trace fills in later. For a stored
    # trace, a placeholder carries only the new rollups.
    known = {t.id for t in trace_rows}
    placeholders: dict[str, TraceIn] = {}
    for obs in observation_rows:
        if obs.trace_id not in known:
            current = placeholders.get(obs.trace_id)
            if current is None or obs.start_time < current.timestamp:
                placeholders[obs.trace_id] = TraceIn(id=obs.trace_id, timestamp=obs.start_time)
    placeholder_rows = sorted(placeholders.values(), key=lambda t: t.id)
    _rollups_attach(project_id, [*trace_rows, *placeholder_rows])
    _upsert("traces_trace", _TRACE_COLUMNS, project_id, trace_rows)
    _upsert("traces_trace", _TRACE_COLUMNS, project_id, placeholder_rows, rollups_only=True)

    # A session starts with its earliest trace and takes that trace's environment; a later batch only moves
    # the start earlier (the WHERE keeps a session row from being rewritten by every batch that names it).
    sessions: dict[str, TraceIn] = {}
    for t in trace_rows:
        if t.session_id and (t.session_id not in sessions or t.timestamp < sessions[t.session_id].timestamp):
            sessions[t.session_id] = t
    if sessions:
        ordered = [sessions[key] for key in sorted(sessions)]
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO traces_session (project_id, id, environment, created_at) "
                "SELECT %s, s.id, COALESCE(s.environment, 'default'), s.created_at "
                "FROM unnest(%s::text[], %s::text[], %s::timestamptz[]) AS s(id, environment, created_at) "
                "ON CONFLICT (project_id, id) DO UPDATE SET created_at = EXCLUDED.created_at "
                "WHERE EXCLUDED.created_at < traces_session.created_at",
                [
                    project_id,
                    [t.session_id for t in ordered],
                    [t.environment for t in ordered],
                    [t.timestamp for t in ordered],
                ],
            )
    return WriteResult(traces=len(trace_rows), observations=len(observation_rows), scores=len(score_rows))


def traces_delete(
    *, project: Project, trace_ids: Sequence[str], actor: User | None = None, actor_api_key: ApiKey | None = None
) -> int:
    """Delete traces with their observations and scores, in one transaction, and audit it.

    Returns how many traces existed. A read after this returns nothing for these ids; sessions stay
    (other traces may name them)."""
    ids = list(dict.fromkeys(trace_ids))
    if not ids:
        return 0
    with transaction.atomic():
        Observation.objects.filter(project=project, trace_id__in=ids).delete()
        Score.objects.filter(project=project, trace_id__in=ids).delete()
        deleted, _ = Trace.objects.filter(project=project, id__in=ids).delete()
        audit_record(
            organization=project.organization,
            project=project,
            action="traces.delete",
            actor=actor,
            actor_api_key=actor_api_key,
            target=ids[0] if len(ids) == 1 else f"{len(ids)} traces",
            before={"trace_ids": ids[:1000], "found": deleted},
        )
    return deleted


def trace_bookmark_set(*, project: Project, trace_id: str, bookmarked: bool) -> bool:
    """Stars or unstars one trace of `project`; False when the project has no such trace."""
    return Trace.objects.filter(project=project, id=trace_id).update(bookmarked=bookmarked) > 0


# --- Annotation and score configs ------------------------------------------------------------------


def annotation_id(*, author_id: int, name: str, target: ScoreTarget) -> str:
    """The one id an author's annotation `name` on `target` can have: a second save (or a double click)
    updates that row instead of adding another."""
    key = "\x1f".join((target.trace_id or "", target.observation_id or "", target.session_id or "", name))
    return f"annotation-{author_id}-{hashlib.sha256(key.encode()).hexdigest()[:32]}"


def score_annotate(
    *,
    project: Project,
    target: ScoreTarget,
    name: str,
    data_type: str,
    value: float | None,
    string_value: str | None,
    comment: str | None,
    author: User,
    config: ScoreConfig | None = None,
) -> Score:
    """Adds or replaces `author`'s annotation `name` on `target` (source ANNOTATION) in one upsert.

    Trace rollups are untouched: scores are not part of them."""
    now = timezone.now()
    score = Score(
        project=project,
        id=annotation_id(author_id=author.pk, name=name, target=target),
        name=name,
        value=value,
        string_value=string_value,
        data_type=data_type,
        source=ScoreSource.ANNOTATION,
        trace_id=target.trace_id,
        observation_id=target.observation_id,
        session_id=target.session_id,
        comment=comment,
        author_user_id=author.pk,
        config_id=str(config.pk) if config else None,
        environment=target.environment,
        timestamp=now,
        created_at=now,
        updated_at=now,
    )
    # INSERT … ON CONFLICT DO UPDATE: two concurrent saves (a double click) both succeed and leave one row.
    Score.objects.bulk_create(
        [score],
        update_conflicts=True,
        unique_fields=["project", "id"],
        update_fields=["name", "value", "string_value", "data_type", "comment", "config_id", "timestamp", "updated_at"],
    )
    return score


def score_annotation_delete(*, project: Project, target: ScoreTarget, score_id: str, author: User) -> bool:
    """Deletes one of `author`'s own annotations on `target`; others' scores and API scores are never touched."""
    deleted, _ = Score.objects.filter(
        project=project,
        id=score_id,
        source=ScoreSource.ANNOTATION,
        author_user_id=author.pk,
        trace_id=target.trace_id,
        observation_id=target.observation_id,
        session_id=target.session_id,
    ).delete()
    return deleted > 0


def score_config_create(
    *,
    project: Project,
    name: str,
    data_type: str,
    min_value: float | None = None,
    max_value: float | None = None,
    categories: list[dict[str, Any]] | None = None,
    description: str = "",
    actor: User | None = None,
    actor_api_key: ApiKey | None = None,
) -> ScoreConfig:
    try:
        with transaction.atomic():
            config = ScoreConfig.objects.create(
                project=project,
                name=name,
                data_type=data_type,
                min_value=min_value,
                max_value=max_value,
                categories=categories or [],
                description=description,
            )
    except IntegrityError:  # the (project, name) constraint: someone created it meanwhile
        raise Conflict(f"A score config named “{name}” already exists in this project.") from None
    audit_record(
        organization=project.organization,
        project=project,
        actor=actor,
        actor_api_key=actor_api_key,
        action="score_config.create",
        target=name,
        after={"data_type": data_type, "min": min_value, "max": max_value, "categories": categories or []},
    )
    return config


# --- Public API: score configs, score deletion, browser feedback -----------------------------------

SCORE_CONFIG_FIELDS = ("name", "min_value", "max_value", "categories", "description", "is_archived")


def score_config_update(
    *, config: ScoreConfig, changes: dict[str, Any], actor: User | None = None, actor_api_key: ApiKey | None = None
) -> ScoreConfig:
    """Applies validated `changes` (keys from SCORE_CONFIG_FIELDS) and audits before/after."""
    before = {name: getattr(config, name) for name in changes}
    for name, value in changes.items():
        if name not in SCORE_CONFIG_FIELDS:
            raise ValueError(f"{name} cannot be changed")
        setattr(config, name, value)
    try:
        with transaction.atomic():
            config.save(update_fields=[*changes, "updated_at"])
    except IntegrityError:
        raise Conflict(f"A score config named “{config.name}” already exists in this project.") from None
    audit_record(
        organization=config.project.organization,
        project=config.project,
        actor=actor,
        actor_api_key=actor_api_key,
        action="score_config.update",
        target=config.name,
        before=before,
        after=changes,
    )
    return config


def score_delete(
    *, project: Project, score_id: str, actor: User | None = None, actor_api_key: ApiKey | None = None
) -> bool:
    """Deletes one score of `project`; a read right after finds nothing. Audited."""
    with transaction.atomic():
        deleted, _ = Score.objects.filter(project=project, id=score_id).delete()
        if deleted:
            audit_record(
                organization=project.organization,
                project=project,
                actor=actor,
                actor_api_key=actor_api_key,
                action="scores.delete",
                target=score_id,
            )
    return deleted > 0


FEEDBACK_SCORE_NAME = "user-feedback"


def feedback_score_id(*, project_id: int, client_id: str) -> str:
    """The score id for a client's feedback id: the same click sent twice lands on the same row."""
    digest = hashlib.sha256(f"{project_id}\x1f{client_id}".encode()).hexdigest()[:32]
    return f"feedback-{digest}"


def feedback_record(
    *,
    project_id: int,
    score_id: str,
    trace_id: str,
    observation_id: str | None,
    value: float,
    comment: str | None,
) -> Score:
    """Stores a thumbs up (1) / down (0) as a BOOLEAN score with source FEEDBACK, in one upsert: a repeat of
    the same feedback id updates that row (a changed mind wins) instead of counting twice."""
    now = timezone.now()
    score = Score(
        project_id=project_id,
        id=score_id,
        name=FEEDBACK_SCORE_NAME,
        value=value,
        string_value="True" if value else "False",
        data_type="BOOLEAN",
        source=ScoreSource.FEEDBACK,
        trace_id=trace_id,
        observation_id=observation_id,
        comment=comment,
        timestamp=now,
        created_at=now,
        updated_at=now,
    )
    Score.objects.bulk_create(
        [score],
        update_conflicts=True,
        unique_fields=["project", "id"],
        update_fields=["value", "string_value", "comment", "timestamp", "updated_at"],
    )
    return score
