"""Reads for trace pages (HackSoft style): every function takes keyword-only arguments and scopes by project."""

from __future__ import annotations

import base64
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import orjson
import psycopg
from django.contrib.postgres.aggregates import ArrayAgg
from django.db import OperationalError, connection, transaction
from django.db.models import (
    Avg,
    BigIntegerField,
    BooleanField,
    Case,
    Count,
    DateTimeField,
    DecimalField,
    Exists,
    F,
    Func,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    TextField,
    Value,
    When,
    Window,
)
from django.db.models.expressions import RawSQL
from django.db.models.fields.tuple_lookups import (
    Tuple,
    TupleGreaterThan,
    TupleLessThan,
)
from django.db.models.functions import Coalesce, RowNumber, TruncDate
from django.utils import timezone

from projects.models import User
from traces.filters import Cursor, TraceFilters
from traces.models import (
    Level,
    ModelPrice,
    Observation,
    ObservationType,
    Score,
    ScoreConfig,
    ScoreDataType,
    ScoreSource,
    Session,
    Trace,
)

# --- Scores and annotation -------------------------------------------------------------------------

SCORE_PANEL_LIMIT = 200  # a target with more scores than this is an API loop, not annotation


@dataclass(frozen=True)
class ScoreTarget:
    """What a score is about: a trace, an observation (with its trace) or a session; and the environment
    its annotations inherit, so environment filters keep them."""

    trace_id: str | None = None
    observation_id: str | None = None
    session_id: str | None = None
    environment: str = "default"

    @property
    def kind(self) -> str:
        return "observation" if self.observation_id else "trace" if self.trace_id else "session"

    def query(self) -> dict[str, str]:
        """The query parameters that name this target (as the score panel's URL takes them)."""
        ids = {"trace_id": self.trace_id, "observation_id": self.observation_id, "session_id": self.session_id}
        return {key: value for key, value in ids.items() if value}


def score_target_from_query(*, project_id: int, query: Mapping[str, str]) -> ScoreTarget | None:
    """The target named by `observation_id` + `trace_id`, `trace_id` or `session_id`, if it exists in this
    project; None otherwise (another project's ids included). One query."""
    trace_id = (query.get("trace_id") or "").strip() or None
    observation_id = (query.get("observation_id") or "").strip() or None
    session_id = (query.get("session_id") or "").strip() or None
    if observation_id:
        if not trace_id:
            return None
        rows = Observation.objects.filter(project_id=project_id, id=observation_id, trace_id=trace_id)
        target = ScoreTarget(trace_id=trace_id, observation_id=observation_id)
    elif trace_id:
        rows = Trace.objects.filter(project_id=project_id, id=trace_id)
        target = ScoreTarget(trace_id=trace_id)
    elif session_id:
        rows = Session.objects.filter(project_id=project_id, id=session_id)
        target = ScoreTarget(session_id=session_id)
    else:
        return None
    environment = rows.values_list("environment", flat=True).first()
    return None if environment is None else replace(target, environment=environment)


def scores_for_target(*, project_id: int, target: ScoreTarget) -> list[Score]:
    """The target's own scores (a trace's leave out its observations'), by name then newest first, each
    with `author` (a User or None) attached. Two queries, whatever the number of scores."""
    scores = Score.objects.filter(project_id=project_id)
    if target.kind == "observation":
        scores = scores.filter(trace_id=target.trace_id, observation_id=target.observation_id)
    elif target.kind == "trace":
        scores = scores.filter(trace_id=target.trace_id, observation_id__isnull=True)
    else:
        scores = scores.filter(session_id=target.session_id, trace_id__isnull=True)
    rows = list(scores.order_by("name", "-timestamp")[:SCORE_PANEL_LIMIT])
    author_ids = {s.author_user_id for s in rows if s.author_user_id is not None}
    authors = User.objects.in_bulk(author_ids) if author_ids else {}
    for score in rows:
        score.author = authors.get(score.author_user_id)  # type: ignore[attr-defined]
    return rows


def score_configs(*, project_id: int) -> list[ScoreConfig]:
    """All of a project's score configs, archived ones included (their names stay taken), by name."""
    return list(ScoreConfig.objects.filter(project_id=project_id).order_by("is_archived", "name"))


def score_config_active(*, project_id: int, config_id: str) -> ScoreConfig | None:
    """The project's unarchived config with this id (as posted: any text), else None."""
    if not config_id.isdigit():
        return None
    return ScoreConfig.objects.filter(project_id=project_id, pk=int(config_id), is_archived=False).first()


def score_config_named(*, project_id: int, name: str) -> ScoreConfig | None:
    return ScoreConfig.objects.filter(project_id=project_id, name=name).first()


# --- Trace detail ------------------------------------------------------------------------------------

# The columns a tree/timeline row needs: never input, output, metadata or other bodies.
SPAN_ROW_FIELDS = ("id", "parent_id", "type", "name", "start_time", "end_time", "completion_start_time", "level")
TRACE_HEADER_SCORES = 30


def trace_get(*, project_id: int, trace_id: str) -> Trace | None:
    """The trace without its bodies (input, output, metadata can be megabytes): see `trace_body`."""
    return Trace.objects.filter(project_id=project_id, id=trace_id).defer("input", "output", "metadata").first()


def trace_body(*, project_id: int, trace_id: str) -> dict[str, object] | None:
    return Trace.objects.filter(project_id=project_id, id=trace_id).values("input", "output", "metadata").first()


def trace_span_rows(*, project_id: int, trace_id: str) -> list[dict[str, object]]:
    """Every observation of the trace as a small dict of SPAN_ROW_FIELDS + total_cost, in start order."""
    return list(
        Observation.objects.filter(project_id=project_id, trace_id=trace_id)
        .order_by("start_time", "id")
        .values(*SPAN_ROW_FIELDS, "total_cost")
    )


def trace_header_scores(*, project_id: int, trace_id: str) -> list[Score]:
    """The newest value of each of the trace's own scores (not its observations'), by name: the header's badges."""
    return list(
        Score.objects.filter(project_id=project_id, trace_id=trace_id, observation_id__isnull=True)
        .order_by("name", "-timestamp")
        .distinct("name")[:TRACE_HEADER_SCORES]
    )


def observation_get(*, project_id: int, trace_id: str, observation_id: str) -> Observation | None:
    return Observation.objects.filter(project_id=project_id, trace_id=trace_id, id=observation_id).first()


def observation_price(*, project_id: int, observation: Observation) -> ModelPrice | None:
    """The price row a computed cost used: a built-in row or one of this project's, never another project's."""
    if observation.price_id is None:
        return None
    return (
        ModelPrice.objects.filter(pk=observation.price_id)
        .filter(Q(project_id=project_id) | Q(project__isnull=True))
        .first()
    )


# --- Sessions and users ----------------------------------------------------------------------------
#
# Neither has stats columns: both are derived from traces' `session_id` / `user_id` (the write path
# keeps no rollups for them). So a list page runs in two steps whose cost follows the page, not the
# project:
#
# 1. Pick the page's keys (session ids or user ids) from an index, never aggregating the project:
#    - by activity (`-time`: latest activity first; `time`: earliest start first): walk
#      `trace_sort_time` (project_id, timestamp, id) newest (or oldest) first in batches of
#      `_SCAN_BATCH` index entries; the first time a key shows up is its latest (earliest) activity.
#      A later page starts at the cursor's time and drops keys that have a trace beyond the cursor
#      (one EXISTS probe per candidate on `trace_project_session` / `trace_project_user`), because an
#      earlier page showed them. Batches read ≈ page size x traces per key / `_SCAN_BATCH`: one for
#      chatty projects, a few when sessions are long;
#    - by id (`id`), and for a prefix search: a loose index scan (a recursive CTE that jumps to the
#      next distinct key with one probe of `trace_project_session` / `trace_project_user`), so 50 keys
#      cost 50 probes however many traces they have. A search sorted by time orders at most
#      `_SEARCH_CANDIDATES` matching ids by their latest trace (one backward index probe each).
# 2. Aggregate just those keys' traces in the time window: one GROUP BY over the same key index
#    (`session_id = ANY(page)`), one for their scores (`score_project_trace`, plus session-level
#    scores by `score_project_session`).
#
# Measured (EXPLAIN ANALYZE, this 2-core machine; 1M traces in one project + 200k in another, 100k sessions,
# 4k users + one with 20k traces, 100k FEEDBACK scores): session list pages 5-20 ms in every sort and for
# a prefix search (1k-entry backward index scan → Index Scan on trace_project_session for ~500 traces →
# nested loop of score_project_trace probes); a user list page ~50-110 ms, all of it the aggregate of the
# page's users' ~30k traces (the 20k-trace user alone is ~2/3). What grows is only the traces of the keys
# on the page in the window — never the project.

PEOPLE_PAGE_SIZE = 50
TURNS_PAGE_SIZE = 50
USER_TRACES_PAGE_SIZE = 25
USER_SESSIONS_LIMIT = 20
PEOPLE_SORTS = ("-time", "time", "id")
_SCAN_BATCH = 1_000
_SEARCH_CANDIDATES = 500
_KEY_COLUMNS = frozenset({"session_id", "user_id"})
_MAX_KEY = "\U0010ffff"  # sorts after every character (C collation: the largest UTF-8 sequence)


@dataclass(frozen=True)
class ScoreSummary:
    """Scores of a session's or user's traces: averages by name, and FEEDBACK scores as thumbs
    (value 1 = up, anything else = down)."""

    averages: tuple[tuple[str, float | None, int], ...] = ()
    thumbs_up: int = 0
    thumbs_down: int = 0

    @property
    def feedback_ratio(self) -> float | None:
        total = self.thumbs_up + self.thumbs_down
        return self.thumbs_up / total if total else None


@dataclass(frozen=True)
class SessionRow:
    id: str
    first: datetime
    last: datetime
    ended: datetime
    traces: int
    users: int
    cost: Decimal | None
    tokens: int
    errors: int
    scores: ScoreSummary

    @property
    def duration_ms(self) -> float:
        return (self.ended - self.first).total_seconds() * 1000


@dataclass(frozen=True)
class UserRow:
    id: str
    first: datetime
    last: datetime
    traces: int
    sessions: int
    cost: Decimal | None
    tokens: int
    scores: ScoreSummary


@dataclass(frozen=True)
class PeoplePage:
    rows: list[Any]
    next_cursor: str | None
    # A search sorted by time orders only the first `_SEARCH_CANDIDATES` matching ids.
    truncated: bool = False


def _cursor_encode(values: list[str]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


def _cursor_decode(cursor: str | None, size: int) -> list[str] | None:
    """The cursor's values, or None when absent or not one of ours (a bad cursor starts over)."""
    if not cursor:
        return None
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        return None
    if not isinstance(values, list) or len(values) != size or not all(isinstance(v, str) for v in values):
        return None
    return values


def _time_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    values = _cursor_decode(cursor, 2)
    if values is None:
        return None
    try:
        at = datetime.fromisoformat(values[0])
    except ValueError:
        return None
    return (at, values[1]) if at.tzinfo else None


def _window_sql(alias: str, since: datetime | None, until: datetime | None) -> tuple[str, dict[str, Any]]:
    """`AND alias.timestamp …` for the window, with named parameters `since` / `until`."""
    sql, params = "", {}
    if since is not None:
        sql, params["since"] = f" AND {alias}.timestamp >= %(since)s", since
    if until is not None:
        sql, params["until"] = sql + f" AND {alias}.timestamp < %(until)s", until
    return sql, params


def _keys_beyond(
    *,
    project_id: int,
    column: str,
    keys: list[str],
    at: datetime,
    newest_first: bool,
    since: datetime | None,
    until: datetime | None,
) -> set[str]:
    """Of `keys`, those with a trace in the window after `at` (before it, oldest first): an earlier page
    showed them. One EXISTS probe per key on the key's index."""
    if not keys:
        return set()
    window, params = _window_sql("t", since, until)
    sql = (
        "SELECT k FROM unnest(%(keys)s::text[]) AS k WHERE EXISTS (SELECT 1 FROM traces_trace t "  # noqa: S608
        f"WHERE t.project_id = %(p)s AND t.{column} = k AND t.timestamp {'>' if newest_first else '<'} %(at)s{window})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {"keys": keys, "p": project_id, "at": at, **params})
        return {row[0] for row in cursor.fetchall()}


def _keys_by_activity(
    *,
    project_id: int,
    column: str,
    since: datetime | None,
    until: datetime | None,
    newest_first: bool,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[tuple[str, datetime]]:
    """Up to limit + 1 (key, latest or earliest activity) pairs in page order, read from the time index."""
    sign = "-" if newest_first else ""
    traces = Trace.objects.filter(project_id=project_id, **{f"{column}__isnull": False})
    if since is not None:
        traces = traces.filter(timestamp__gte=since)
    if until is not None:
        traces = traces.filter(timestamp__lt=until)
    if after is not None:
        traces = traces.filter(**{"timestamp__lte" if newest_first else "timestamp__gte": after[0]})
    traces = traces.order_by(f"{sign}timestamp", f"{sign}id")

    def ahead(a: Any, b: Any) -> bool:
        return a > b if newest_first else a < b

    seen: set[str] = set()
    found: list[tuple[str, datetime]] = []
    position: tuple[datetime, str] | None = None
    while True:
        batch = traces
        if position is not None:
            op = "lt" if newest_first else "gt"
            batch = batch.filter(
                Q(**{f"timestamp__{op}": position[0]}) | Q(timestamp=position[0], **{f"id__{op}": position[1]})
            )
        rows = list(batch.values_list(column, "timestamp", "id")[:_SCAN_BATCH])
        fresh: list[tuple[str, datetime]] = []
        for key, at, _ in rows:
            if key not in seen:
                seen.add(key)
                fresh.append((key, at))
        if after is not None:
            fresh = [(key, at) for key, at in fresh if ahead(after, (at, key))]
            beyond = _keys_beyond(
                project_id=project_id,
                column=column,
                keys=[key for key, _ in fresh],
                at=after[0],
                newest_first=newest_first,
                since=since,
                until=until,
            )
            fresh = [(key, at) for key, at in fresh if key not in beyond]
        found.extend(fresh)
        found.sort(key=lambda pair: (pair[1], pair[0]), reverse=newest_first)
        if len(rows) < _SCAN_BATCH:
            break
        position = (rows[-1][1], rows[-1][2])
        # Enough once every unread trace is strictly behind the first key past the page: no key found
        # later can tie with it or come before it.
        if len(found) > limit and ahead(found[limit][1], position[0]):
            break
    return found[: limit + 1]


def _distinct_keys_sql(column: str, *, prefix: str, after: str | None) -> tuple[str, dict[str, Any]]:
    """A loose index scan over the key's index: each step is one probe for the next distinct key."""
    upper = " AND {t}" + column + " < %(hi)s" if prefix else ""
    start = f"{column} > %(after)s" if after is not None else f"{column} >= %(prefix)s"
    sql = (
        "WITH RECURSIVE k(v) AS ("  # noqa: S608 - the column comes from _KEY_COLUMNS, values are parameters
        f"(SELECT {column} FROM traces_trace WHERE project_id = %(p)s AND {start}{upper.format(t='')} "
        f"ORDER BY {column} LIMIT 1) "
        f"UNION ALL SELECT (SELECT t.{column} FROM traces_trace t WHERE t.project_id = %(p)s "
        f"AND t.{column} > k.v{upper.format(t='t.')} ORDER BY t.{column} LIMIT 1) FROM k WHERE k.v IS NOT NULL"
        ")"
    )
    return sql, {"prefix": prefix, "hi": prefix + _MAX_KEY, "after": after}


def _keys_page(
    *,
    project_id: int,
    column: str,
    since: datetime | None,
    until: datetime | None,
    search: str,
    sort: str,
    cursor: str | None,
    limit: int,
) -> tuple[list[str], str | None, bool]:
    """The page's keys in order, the next page's cursor, and whether a search was cut at its candidates."""
    assert column in _KEY_COLUMNS and sort in PEOPLE_SORTS
    newest_first = sort == "-time"
    if sort != "id" and not search:
        pairs = _keys_by_activity(
            project_id=project_id,
            column=column,
            since=since,
            until=until,
            newest_first=newest_first,
            after=_time_cursor(cursor),
            limit=limit,
        )
        more = len(pairs) > limit
        pairs = pairs[:limit]
        last = _cursor_encode([pairs[-1][1].isoformat(), pairs[-1][0]]) if more else None
        return [key for key, _ in pairs], last, False

    window, window_params = _window_sql("w", since, until)
    params: dict[str, Any] = {"p": project_id, "n": limit + 1, **window_params}
    if sort == "id":
        after = _cursor_decode(cursor, 1)
        cte, cte_params = _distinct_keys_sql(column, prefix=search, after=after[0] if after else None)
        sql = (
            f"{cte} SELECT v FROM k WHERE v IS NOT NULL AND starts_with(v, %(prefix)s) "  # noqa: S608
            f"AND EXISTS (SELECT 1 FROM traces_trace w WHERE w.project_id = %(p)s AND w.{column} = k.v{window}) "
            "LIMIT %(n)s"
        )
        with connection.cursor() as db:
            db.execute(sql, {**params, **cte_params})
            keys = [row[0] for row in db.fetchall()]
        more = len(keys) > limit
        return keys[:limit], _cursor_encode([keys[limit - 1]]) if more else None, False

    after_time = _time_cursor(cursor)
    extreme, direction, op = ("max", "DESC", "<") if newest_first else ("min", "ASC", ">")
    cte, cte_params = _distinct_keys_sql(column, prefix=search, after=None)
    keyset = f" AND (x.at, c.v) {op} (%(at)s, %(key)s)" if after_time else ""
    sql = (
        f"{cte}, c AS (SELECT v FROM k WHERE v IS NOT NULL AND starts_with(v, %(prefix)s) LIMIT %(cap)s) "  # noqa: S608
        f"SELECT c.v, x.at, (SELECT count(*) FROM c) FROM c CROSS JOIN LATERAL "
        f"(SELECT {extreme}(w.timestamp) AS at FROM traces_trace w WHERE w.project_id = %(p)s AND w.{column} = c.v"
        f"{window}) x WHERE x.at IS NOT NULL{keyset} ORDER BY x.at {direction}, c.v {direction} LIMIT %(n)s"
    )
    params.update(cap=_SEARCH_CANDIDATES + 1, **cte_params)
    if after_time:
        params.update(at=after_time[0], key=after_time[1])
    with connection.cursor() as db:
        db.execute(sql, params)
        rows = db.fetchall()
    truncated = bool(rows) and rows[0][2] > _SEARCH_CANDIDATES
    more = len(rows) > limit
    rows = rows[:limit]
    last = _cursor_encode([rows[-1][1].isoformat(), rows[-1][0]]) if more else None
    return [row[0] for row in rows], last, truncated


def _score_summaries(
    *, project_id: int, column: str, keys: list[str], since: datetime | None, until: datetime | None
) -> dict[str, ScoreSummary]:
    """Per key, the scores of its traces in the window (and, for sessions, the session's own scores)."""
    if not keys:
        return {}
    window, window_params = _window_sql("t", since, until)
    sql = (
        f"SELECT t.{column}, s.name, s.source = 'FEEDBACK', avg(s.value), count(*), "  # noqa: S608
        "count(*) FILTER (WHERE s.value = 1), count(*) FILTER (WHERE s.value IS NOT NULL AND s.value <> 1) "
        # OFFSET 0 keeps the lateral subquery from being flattened into a hash join that reads all the
        # project's scores: each of the page's traces probes `score_project_trace` instead.
        "FROM traces_trace t CROSS JOIN LATERAL (SELECT s.name, s.source, s.value FROM traces_score s "
        "WHERE s.project_id = t.project_id AND s.trace_id = t.id OFFSET 0) s "
        f"WHERE t.project_id = %(p)s AND t.{column} = ANY(%(keys)s){window} GROUP BY 1, 2, 3"
    )
    params = {"p": project_id, "keys": keys, **window_params}
    if column == "session_id":
        sql += (
            " UNION ALL SELECT s.session_id, s.name, s.source = 'FEEDBACK', avg(s.value), count(*), "
            "count(*) FILTER (WHERE s.value = 1), count(*) FILTER (WHERE s.value IS NOT NULL AND s.value <> 1) "
            "FROM traces_score s WHERE s.project_id = %(p)s AND s.session_id = ANY(%(keys)s) "
            "AND s.trace_id IS NULL GROUP BY 1, 2, 3"
        )
    averages: dict[str, dict[str, tuple[float | None, int]]] = defaultdict(dict)
    thumbs: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for key, name, is_feedback, average, count, up, down in cursor.fetchall():
            if is_feedback:
                thumbs[key][0] += up
                thumbs[key][1] += down
                continue
            # A name may come from both halves of the union: merge the two averages by their counts.
            old_average, old_count = averages[key].get(name, (None, 0))
            if old_average is not None and average is not None:
                average = (old_average * old_count + average * count) / (old_count + count)
            averages[key][name] = (average if average is not None else old_average, old_count + count)
    return {
        key: ScoreSummary(
            averages=tuple((name, avg, n) for name, (avg, n) in sorted(averages.get(key, {}).items())),
            thumbs_up=thumbs[key][0] if key in thumbs else 0,
            thumbs_down=thumbs[key][1] if key in thumbs else 0,
        )
        for key in keys
    }


# What each people list counts per key over the key's traces in the window.
_SESSION_STATS = {
    "first": Min("timestamp"),
    "last": Max("timestamp"),
    "ended": Max(Coalesce("end_time", "timestamp")),
    "traces": Count("id"),
    "users": Count("user_id", distinct=True),
    "cost": Sum("total_cost"),
    "tokens": Sum("total_tokens"),
    "errors": Sum("error_count"),
}
_USER_STATS = {
    "first": Min("timestamp"),
    "last": Max("timestamp"),
    "traces": Count("id"),
    "sessions": Count("session_id", distinct=True),
    "cost": Sum("total_cost"),
    "tokens": Sum("total_tokens"),
}


def _people_rows[R: (SessionRow, UserRow)](
    *,
    project_id: int,
    column: str,
    keys: list[str],
    since: datetime | None,
    until: datetime | None,
    stats: Mapping[str, Any],
    row: type[R],
) -> list[R]:
    """Stats of these sessions or users (`column`) over their traces in the window, in the order given.
    Two queries."""
    if not keys:
        return []
    traces = Trace.objects.filter(project_id=project_id, **{f"{column}__in": keys})
    if since is not None:
        traces = traces.filter(timestamp__gte=since)
    if until is not None:
        traces = traces.filter(timestamp__lt=until)
    by_key = {values.pop(column): values for values in traces.values(column).annotate(**stats)}
    scores = _score_summaries(project_id=project_id, column=column, keys=keys, since=since, until=until)
    return [row(id=key, scores=scores[key], **by_key[key]) for key in keys if key in by_key]


def _session_rows(
    *, project_id: int, session_ids: list[str], since: datetime | None, until: datetime | None
) -> list[SessionRow]:
    return _people_rows(
        project_id=project_id,
        column="session_id",
        keys=session_ids,
        since=since,
        until=until,
        stats=_SESSION_STATS,
        row=SessionRow,
    )


def _user_rows(
    *, project_id: int, user_ids: list[str], since: datetime | None, until: datetime | None
) -> list[UserRow]:
    return _people_rows(
        project_id=project_id, column="user_id", keys=user_ids, since=since, until=until, stats=_USER_STATS, row=UserRow
    )


def _people_page(
    rows: Callable[..., list[Any]],
    *,
    project_id: int,
    column: str,
    since: datetime | None,
    until: datetime | None,
    search: str,
    sort: str,
    cursor: str | None,
    limit: int,
) -> PeoplePage:
    keys, next_cursor, truncated = _keys_page(
        project_id=project_id,
        column=column,
        since=since,
        until=until,
        search=search,
        sort=sort,
        cursor=cursor,
        limit=limit,
    )
    page_rows = rows(project_id=project_id, keys=keys, since=since, until=until)
    return PeoplePage(rows=page_rows, next_cursor=next_cursor, truncated=truncated)


def session_list_page(
    *,
    project_id: int,
    since: datetime | None,
    until: datetime | None,
    search: str = "",
    sort: str = "-time",
    cursor: str | None = None,
    limit: int = PEOPLE_PAGE_SIZE,
) -> PeoplePage:
    """One page of sessions with activity in [since, until): first/last trace, traces, users, cost,
    tokens, duration and scores, counted over the window. Sorts: `-time` (latest activity first),
    `time` (earliest start first), `id`; `search` is an id prefix. Query plan: see the section comment
    above — key selection on `trace_sort_time` / `trace_project_session`, then two aggregates over
    `trace_project_session` and `score_project_trace` for the page's ids only."""
    return _people_page(
        partial(_people_rows, column="session_id", stats=_SESSION_STATS, row=SessionRow),
        project_id=project_id,
        column="session_id",
        since=since,
        until=until,
        search=search,
        sort=sort,
        cursor=cursor,
        limit=limit,
    )


def user_list_page(
    *,
    project_id: int,
    since: datetime | None,
    until: datetime | None,
    search: str = "",
    sort: str = "-time",
    cursor: str | None = None,
    limit: int = PEOPLE_PAGE_SIZE,
) -> PeoplePage:
    """One page of users with traces in [since, until): traces, sessions, tokens, cost, first/last seen
    and the share of thumbs-up among their FEEDBACK scores. Sorts and plan as `session_list_page`, on
    `trace_project_user` (project_id, user_id, -timestamp)."""
    return _people_page(
        partial(_people_rows, column="user_id", stats=_USER_STATS, row=UserRow),
        project_id=project_id,
        column="user_id",
        since=since,
        until=until,
        search=search,
        sort=sort,
        cursor=cursor,
        limit=limit,
    )


def project_has_sessions(*, project_id: int) -> bool:
    return Session.objects.filter(project_id=project_id).exists()


def project_has_users(*, project_id: int) -> bool:
    return Trace.objects.filter(project_id=project_id, user_id__isnull=False).exists()


def session_overview(*, project_id: int, session_id: str) -> SessionRow | None:
    """The whole session's stats; None when this project has no such session. Two or three queries."""
    rows = _session_rows(project_id=project_id, session_ids=[session_id], since=None, until=None)
    if rows:
        return rows[0]
    if not Session.objects.filter(project_id=project_id, id=session_id).exists():
        return None
    now = timezone.now()  # a session whose traces were deleted: it still exists, with nothing in it
    return SessionRow(session_id, now, now, now, 0, 0, None, 0, 0, ScoreSummary())


@dataclass(frozen=True)
class Turn:
    """One trace of a session as a conversation turn: what the user sent and what came back."""

    trace: Trace
    input: Any
    output: Any
    scores: list[Score]
    feedback: list[Score]


def _observation_io(*, project_id: int, trace_ids: list[str], field: str) -> dict[str, Any]:
    """Per trace, the input of its first generation or the output of its last one (`field`), falling back
    to the root observation's. One query (DISTINCT ON) over `obs_project_trace`."""
    if not trace_ids:
        return {}
    rows = (
        Observation.objects.filter(project_id=project_id, trace_id__in=trace_ids, **{f"{field}__isnull": False})
        .filter(Q(type=ObservationType.GENERATION) | Q(parent_id__isnull=True))
        .annotate(rank=Case(When(type=ObservationType.GENERATION, then=0), default=1))
        .order_by("trace_id", "rank", "start_time" if field == "input" else "-start_time")
        .distinct("trace_id")
        .values_list("trace_id", field)
    )
    return dict(rows)


def session_turns(
    *, project_id: int, session_id: str, cursor: str | None = None, limit: int = TURNS_PAGE_SIZE
) -> tuple[list[Turn], str | None]:
    """The session's traces in time order (keyset on timestamp, id) with the text of each turn and its
    scores. Four queries whatever the number of turns: traces, fallback inputs, fallback outputs, scores."""
    traces = Trace.objects.filter(project_id=project_id, session_id=session_id).only(
        "id", "name", "timestamp", "user_id", "input", "output", "latency_ms", "total_cost", "total_tokens",
        "error_count", "session_id",
    )  # fmt: skip
    after = _time_cursor(cursor)
    if after is not None:
        traces = traces.filter(Q(timestamp__gt=after[0]) | Q(timestamp=after[0], id__gt=after[1]))
    page = list(traces.order_by("timestamp", "id")[: limit + 1])
    if len(page) > limit:
        page, next_cursor = page[:limit], _cursor_encode([page[limit - 1].timestamp.isoformat(), page[limit - 1].id])
    else:
        next_cursor = None
    ids = [t.id for t in page]
    inputs = _observation_io(project_id=project_id, trace_ids=[t.id for t in page if t.input is None], field="input")
    outputs = _observation_io(project_id=project_id, trace_ids=[t.id for t in page if t.output is None], field="output")
    scores: dict[str, list[Score]] = defaultdict(list)
    for score in Score.objects.filter(project_id=project_id, trace_id__in=ids).order_by("name", "-timestamp"):
        scores[score.trace_id].append(score)
    turns = [
        Turn(
            trace=t,
            input=t.input if t.input is not None else inputs.get(t.id),
            output=t.output if t.output is not None else outputs.get(t.id),
            scores=[s for s in scores[t.id] if s.source != ScoreSource.FEEDBACK],
            feedback=[s for s in scores[t.id] if s.source == ScoreSource.FEEDBACK],
        )
        for t in page
    ]
    return turns, next_cursor


def user_overview(*, project_id: int, user_id: str) -> UserRow | None:
    """All-time totals of one user; None when no trace in this project names them."""
    rows = _user_rows(project_id=project_id, user_ids=[user_id], since=None, until=None)
    return rows[0] if rows else None


def user_sessions(*, project_id: int, user_id: str, limit: int = USER_SESSIONS_LIMIT) -> list[dict[str, Any]]:
    """The user's latest sessions (id, traces, last activity, cost), from the user's traces."""
    return list(
        Trace.objects.filter(project_id=project_id, user_id=user_id, session_id__isnull=False)
        .values("session_id")
        .annotate(traces=Count("id"), last=Max("timestamp"), cost=Sum("total_cost"))
        .order_by("-last", "session_id")[:limit]
    )


def user_traces_page(
    *, project_id: int, user_id: str, cursor: str | None = None, limit: int = USER_TRACES_PAGE_SIZE
) -> tuple[list[Trace], str | None]:
    """The user's traces, latest first (keyset on timestamp, id over `trace_project_user`)."""
    traces = Trace.objects.filter(project_id=project_id, user_id=user_id).only(
        "id", "name", "timestamp", "session_id", "latency_ms", "total_cost", "total_tokens", "error_count"
    )
    after = _time_cursor(cursor)
    if after is not None:
        traces = traces.filter(Q(timestamp__lt=after[0]) | Q(timestamp=after[0], id__lt=after[1]))
    page = list(traces.order_by("-timestamp", "-id")[: limit + 1])
    if len(page) <= limit:
        return page, None
    return page[:limit], _cursor_encode([page[limit - 1].timestamp.isoformat(), page[limit - 1].id])


def user_daily_usage(*, project_id: int, user_id: str) -> list[dict[str, Any]]:
    """Cost and traces per UTC day over the user's traces (a day without traces is absent)."""
    return list(
        Trace.objects.filter(project_id=project_id, user_id=user_id)
        .annotate(day=TruncDate("timestamp", tzinfo=UTC))
        .values("day")
        .annotate(traces=Count("id"), cost=Sum("total_cost"))
        .order_by("day")
    )


# --- Trace list ------------------------------------------------------------------------------------
#
# One query for the page's rows and one for their scores, whatever the filters; both use indexes from
# migration 0004 (names below), so the page's cost follows the page size, not the project:
#
# - Order: ORDER BY <sort key> DESC|ASC, id DESC|ASC with a keyset cursor `(key, id) < (v, i)` (a row
#   comparison, which PostgreSQL turns into an index bound) and LIMIT page + 1. Each sort has an index
#   that returns rows in that order within the project: `trace_sort_time` (project_id, timestamp, id),
#   `trace_sort_latency` (project_id, COALESCE(latency_ms, -1), id), `trace_sort_cost` (project_id,
#   COALESCE(total_cost, -1), id), `trace_sort_tokens` (project_id, total_tokens, id); ascending pages read
#   the same index forwards. So a page is an index range scan that stops after page + 1 matching rows.
#   (Filtered by name/env/release, time pages read those indexes by timestamp and order the rare equal
#   timestamps by id in an incremental sort.)
# - Filters that are usually frequent (environment, level, errors, ranges, model, score) are checked on
#   the rows the sort index returns; the selective ones have their own entry points the planner picks
#   when its statistics say the value is rare: user (`trace_project_user`), session
#   (`trace_project_session`), name (`trace_filter_name`), environment (`trace_filter_env`), release
#   (`trace_filter_release`), starred (`trace_filter_starred`, partial), tags (`trace_project_tags`, GIN
#   with btree_gin's project_id), metadata (`trace_metadata`, GIN jsonb_path_ops, `@>`).
# - model, level, score: EXISTS probes on `obs_project_trace` / `score_project_trace` per candidate row.
# - q: `sightline_trace_search_text(input, output) ILIKE sightline_search_spacing('%q%')`. Which plan is fast
#   depends on how common the term is, and the planner cannot know it (its estimate for a pattern comes from
#   a 300-value sample), so the selector decides, in steps (_search_rows): first it walks the next
#   SEARCH_WALK_STEPS[0] traces of the page's sort index after the cursor, the ILIKE checked on each (a
#   LIMITed subquery keeps that an index range scan which stops as soon as page + 1 match). A common term
#   ("refund": more than half the traces) fills the page there. If the walk ends short, it goes on to the next step
#   only when the matches so far promise a full page within it; otherwise the rest of the range -- strictly
#   after the last trace walked, as a keyset bound -- goes to the trigram GIN index `trace_search` (bitmap
#   scan, recheck, top-N sort), where a rare term has few candidates. Each step is exact over its stretch
#   of the sort, so the page is exactly the plain ordered query's rows, whatever the mix (tests/
#   test_trace_list_search.py). The cost per trace read is the recheck, which recomputes the search text
#   (≈30 µs on average; ≈0.4 ms for CJK-heavy text, whose spacing regexp dominates): at 1M traces (bench/ui.py) the
#   walk steps (500, 4,500) keep every measured search under 300 ms p95. What the index cannot make fast is
#   a term whose trigrams are common but which is itself rare or absent (pg_trgm indexes words, not their
#   order: "refund rotterdam" has as candidates every trace with both words, over a minute of rechecks at
#   1M traces). So a page has a wall-time budget (SEARCH_PAGE_BUDGET_S): the index query gets what is left
#   of it, and when it runs out the page answers with the matches so far and the cursor where it stopped;
#   the next page (`scan=1`) walks on from there without the index. CJK characters are spaced into words of
#   their own on both sides, so even a one- or two-character Chinese word has trigrams; a 1-2 character term
#   in other scripts has none and is found by the walk (SEARCH_TIMEOUT_MS caps any one statement).
# - cost/latency ranges are written on the sort indexes' expressions (`COALESCE(total_cost, -1) >= …`), so
#   a rare range ("cost over 5 cents") is a range scan of `trace_sort_cost`/`trace_sort_latency` and a sort,
#   and a frequent one a walk of the time index; the planner tells them apart by the expression indexes'
#   statistics (migration 0005 gathers them).
# - The preview columns cut input/output to PREVIEW_CHARS in SQL: 1 MB payloads never leave the database.

TRACE_PAGE_SIZE = 50
PREVIEW_CHARS = 240
NEW_TRACES_CAP = 100  # the notice says "99+" beyond this; counting further would only cost time
NEW_TRACES_LOOKBACK = timedelta(hours=1)  # a late trace's start time may precede the page load by this much
SEARCH_TIMEOUT_MS = 5_000
# Traces a search reads in the sort index before it turns to the trigram index (see above; measured at 1M traces).
SEARCH_WALK_STEPS = (500, 4_500)
# Wall time one search page may take. A term whose words are common but whose text is rare or absent (a phrase
# of two common words that never meet) gives the trigram index most of the range as candidates, each rechecked:
# seconds at 1M traces. Past this budget the page answers with the matches found so far and where the search
# stopped (`TraceListPage.partial`); its next page (`scan=1`) goes on walking from there, a budget at a time.
SEARCH_PAGE_BUDGET_S = 0.35
SEARCH_INDEX_MIN_MS = 50  # below this much budget left, the index search is not worth starting
SEARCH_SCAN_MAX_STEP = 20_000


class _ILike(Func):
    """`lhs ILIKE rhs`: the operator the trigram index answers (Django's icontains wraps both sides in UPPER)."""

    arg_joiner = " ILIKE "
    template = "(%(expressions)s)"
    output_field = BooleanField()


def _preview(column: str) -> RawSQL:
    """Text to glance at, cut to PREVIEW_CHARS: a string as itself; chat messages (a list, or an object with
    `messages`) as the last message's content; a message object as its content; anything else as JSON."""
    c = f"traces_trace.{column}"
    return RawSQL(  # noqa: S611 - constant SQL: `column` is one of our two column names
        f"left(coalesce(CASE jsonb_typeof({c}) WHEN 'string' THEN {c} #>> '{{}}' "
        f"WHEN 'array' THEN {c} -> -1 ->> 'content' "
        f"WHEN 'object' THEN coalesce({c} ->> 'content', {c} -> 'messages' -> -1 ->> 'content') END, "
        f"{c}::text), {PREVIEW_CHARS})",
        [],
        output_field=TextField(),
    )


# The sort keys exactly as the sort indexes spell them (an index matches only the same expression).
_SORT_SQL = {
    "time": "traces_trace.timestamp",
    "latency": "COALESCE(traces_trace.latency_ms, -1)",
    "cost": "COALESCE(traces_trace.total_cost, -1)",
    "tokens": "traces_trace.total_tokens",
}
_SORT_FIELDS = {
    "time": DateTimeField(),
    "latency": BigIntegerField(),
    "cost": DecimalField(),
    "tokens": BigIntegerField(),
}
TRACE_ROW_FIELDS = (
    "id",
    "name",
    "timestamp",
    "user_id",
    "session_id",
    "tags",
    "environment",
    "release",
    "latency_ms",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "total_cost",
    "observation_count",
    "error_count",
    "bookmarked",
)


@dataclass(frozen=True)
class TraceScore:
    name: str
    average: float | None  # numeric and boolean scores
    count: int
    labels: tuple[str, ...]  # categorical and text scores: their distinct values
    thumbs_up: int = 0  # thumbs (render.is_thumb: FEEDBACK booleans and `thumbs`) are shown as such, not averaged
    thumbs_down: int = 0


@dataclass(frozen=True)
class TraceListPage:
    rows: list[dict[str, Any]]  # TRACE_ROW_FIELDS + input_preview, output_preview, scores (list[TraceScore])
    next_cursor: Cursor | None
    # A search that ran out of its page budget: `rows` are the matches up to `next_cursor`, where it stopped.
    partial: bool = False
    scanned: int = 0  # traces a search walked for this page (the index's candidates are not counted)
    # The next page walks without trying the trigram index (`scan=1`): it ran out of time on this search.
    scan: bool = False


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _metadata_match(key: str, value: str) -> Q:
    """`metadata @> {key: value}`; a value that reads as a JSON number, boolean or null also matches
    that typed value (the URL carries text, the SDK may have sent `{"tier": 3}`)."""
    match = Q(metadata__contains={key: value})
    try:
        typed = orjson.loads(value)
    except orjson.JSONDecodeError:
        return match
    if typed is None or isinstance(typed, bool | int | float):
        match |= Q(metadata__contains={key: typed})
    return match


def trace_list_queryset(*, project_id: int, filters: TraceFilters) -> QuerySet[Trace]:
    """The project's traces that pass every filter (no order, no cursor)."""
    traces = Trace.objects.filter(project_id=project_id)
    f = filters
    if f.start:
        traces = traces.filter(timestamp__gte=f.start)
    if f.end:
        traces = traces.filter(timestamp__lte=f.end)
    exact = {"name": f.name, "user_id": f.user, "session_id": f.session, "environment": f.env, "release": f.release}
    traces = traces.filter(**{column: value for column, value in exact.items() if value})
    if f.tags:
        traces = traces.filter(tags__contains=list(f.tags))
    if f.errors or f.level == Level.ERROR:
        traces = traces.filter(error_count__gt=0)  # the rollup: no join needed
    elif f.level:
        traces = traces.filter(
            Exists(Observation.objects.filter(project_id=project_id, trace_id=OuterRef("id"), level=f.level))
        )
    if f.model:
        traces = traces.filter(
            Exists(Observation.objects.filter(project_id=project_id, trace_id=OuterRef("id"), model=f.model))
        )
    if f.score:
        scores = Score.objects.filter(project_id=project_id, trace_id=OuterRef("id"), name=f.score)
        if f.score_value:
            # Labels are the client's exact strings; booleans are stored as "True"/"False", so any case matches.
            scores = scores.filter(
                Q(data_type=ScoreDataType.CATEGORICAL, string_value=f.score_value)
                | Q(data_type=ScoreDataType.BOOLEAN, string_value__iexact=f.score_value)
            )
        if f.score_min is not None:
            scores = scores.filter(value__gte=f.score_min)
        if f.score_max is not None:
            scores = scores.filter(value__lte=f.score_max)
        traces = traces.filter(Exists(scores))
    # Written on the sort indexes' own expressions (NULL as -1), so a rare range is an index range scan and
    # the planner estimates it from the expression index's statistics; the bounds are never negative, so
    # `>= min` leaves out a NULL as `total_cost >= min` would, and a lone max says NOT NULL itself.
    for column, sort, low, high in (
        ("total_cost", "cost", f.cost_min, f.cost_max),
        ("latency_ms", "latency", f.latency_min, f.latency_max),
    ):
        if low is None and high is None:
            continue
        traces = traces.alias(**{f"{sort}_key": _sort_key(sort)})
        if low is not None:
            traces = traces.filter(**{f"{sort}_key__gte": low})
        else:
            traces = traces.filter(**{f"{column}__isnull": False})
        if high is not None:
            traces = traces.filter(**{f"{sort}_key__lte": high})
    for key, value in f.meta:
        traces = traces.filter(_metadata_match(key, value))
    if f.q:
        search_text = Func(F("input"), F("output"), function="sightline_trace_search_text", output_field=TextField())
        # Spaced like the indexed text (CJK characters become words of their own; migration 0004).
        pattern = Func(Value(_like_pattern(f.q)), function="sightline_search_spacing", output_field=TextField())
        traces = traces.filter(_ILike(search_text, pattern))
    if f.starred:
        traces = traces.filter(bookmarked=True)
    return traces


def _sort_key(sort: str) -> RawSQL:
    return RawSQL(_SORT_SQL[sort], [], output_field=_SORT_FIELDS[sort])  # noqa: S611 - constant SQL


def trace_scores_by_trace(*, project_id: int, trace_ids: list[str]) -> dict[str, list[TraceScore]]:
    """Scores of these traces (their observations' included), aggregated by name. One query."""
    if not trace_ids:
        return {}
    thumb = Q(data_type=ScoreDataType.BOOLEAN) & (Q(source=ScoreSource.FEEDBACK) | Q(name="thumbs"))
    rows = (
        Score.objects.filter(project_id=project_id, trace_id__in=trace_ids)
        .values("trace_id", "name")
        .annotate(
            average=Avg("value", filter=Q(data_type__in=[ScoreDataType.NUMERIC, ScoreDataType.BOOLEAN])),
            count=Count("id"),
            labels=ArrayAgg(
                "string_value",
                distinct=True,
                filter=Q(data_type__in=[ScoreDataType.CATEGORICAL, ScoreDataType.TEXT], string_value__isnull=False),
                default=Value([]),
            ),
            thumbs_up=Count("id", filter=thumb & Q(value=1)),
            thumbs_down=Count("id", filter=thumb & ~Q(value=1)),
        )
        .order_by("trace_id", "name")
    )
    summary: dict[str, list[TraceScore]] = defaultdict(list)
    for row in rows:
        summary[row["trace_id"]].append(
            TraceScore(
                name=row["name"],
                average=row["average"],
                count=row["count"],
                labels=tuple(row["labels"]),
                thumbs_up=row["thumbs_up"],
                thumbs_down=row["thumbs_down"],
            )
        )
    return summary


class TraceSearchTimeout(Exception):
    """A search ran past SEARCH_TIMEOUT_MS (a 1-2 character term over a long window reads every trace)."""


@contextmanager
def _search_budget(active: bool, milliseconds: float | None = None) -> Iterator[None]:
    """Caps a search's statement time, so one broad search cannot hold a worker (and a core) for minutes. In a
    savepoint: nested inside another budget, the outer one holds again after a timeout (the rollback undoes
    the SET LOCAL), but not after success (a released savepoint keeps it to the end of the transaction)."""
    if not active:
        yield
        return
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                # At least 1 ms: statement_timeout = 0 would switch the limit off.
                cursor.execute(f"SET LOCAL statement_timeout = {max(1, int(milliseconds or SEARCH_TIMEOUT_MS))}")
            yield
    except OperationalError as error:
        if isinstance(error.__cause__, psycopg.errors.QueryCanceled):
            raise TraceSearchTimeout from error
        raise


def _ordered(traces: QuerySet[Trace], filters: TraceFilters, cursor: Cursor | None) -> QuerySet[Trace]:
    """`traces` in the filters' sort, strictly after `cursor`, with the sort key as `sort_value`."""
    key = _sort_key(filters.sort_key)
    traces = traces.annotate(sort_value=key)
    if cursor is not None:
        beyond = TupleLessThan if filters.descending else TupleGreaterThan
        traces = traces.filter(beyond(Tuple(key, F("id")), (cursor.value, cursor.id)))
    order = [key.desc(), F("id").desc()] if filters.descending else [key.asc(), F("id").asc()]
    return traces.order_by(*order)


def _page_values(traces: QuerySet[Trace]) -> QuerySet[Trace, dict[str, Any]]:
    return traces.values(
        *TRACE_ROW_FIELDS, "sort_value", input_preview=_preview("input"), output_preview=_preview("output")
    )


def _search_walk(
    *, project_id: int, filters: TraceFilters, cursor: Cursor | None, rows: int, limit: int
) -> tuple[list[dict[str, Any]], Cursor | None]:
    """The search's matches among the next `rows` traces of the sort after `cursor` (at most `limit` of
    them), read in the sort index's order and stopping at the limit; and, when they do not fill the limit,
    the last of those traces (the search goes on after it), or None at the end of the range."""
    unsearched = _ordered(trace_list_queryset(project_id=project_id, filters=replace(filters, q="")), filters, cursor)
    # The stretch and where it ends come from one statement, so from one snapshot: a trace that arrives while
    # the search walks (ingestion goes on) is either in it or not, and cannot push the stretch's last trace out
    # unread (a separate query for the end, then the walk, would lose it). `walked` numbers the stretch; its
    # last trace is returned whether it matches or not, and tells where the next step starts.
    numbered = unsearched.annotate(walked=Window(RowNumber(), order_by=unsearched.query.order_by))
    inner, params = numbered.values(*TRACE_ROW_FIELDS, "sort_value", "input", "output", "walked")[
        :rows
    ].query.sql_with_params()
    direction = "DESC" if filters.descending else "ASC"
    columns = ", ".join(f"traces_trace.{column}" for column in (*TRACE_ROW_FIELDS, "sort_value"))
    match = "sightline_trace_search_text(traces_trace.input, traces_trace.output) ILIKE sightline_search_spacing(%s)"
    # The inner LIMIT keeps PostgreSQL from merging the stretch into the outer query (where it might prefer
    # the trigram index): the stretch is an index range scan in the page's order, the outer filter takes rows
    # from it one at a time and the outer LIMIT stops it as soon as the page is full. The stretch's last trace
    # is tested first, so the search text is computed once per trace (twice for that one, to tell whether it
    # matches). The alias lets _preview's SQL name the stretch's columns.
    sql = (
        f"SELECT {columns}, {_preview('input').sql} AS input_preview, {_preview('output').sql} AS output_preview, "  # noqa: S608 - constant SQL around the ORM's parametrised query
        f"traces_trace.walked, CASE WHEN traces_trace.walked < %s THEN true ELSE {match} END AS matched "
        f"FROM ({inner}) AS traces_trace WHERE traces_trace.walked = %s OR {match} "
        f"ORDER BY traces_trace.sort_value {direction}, traces_trace.id {direction} LIMIT %s"
    )
    pattern = _like_pattern(filters.q)
    with connection.cursor() as db:
        db.execute(sql, [rows, pattern, *params, rows, pattern, limit])
        names = [column.name for column in db.description]
        found = [dict(zip(names, row, strict=True)) for row in db.fetchall()]
    end = Cursor(value=found[-1]["sort_value"], id=found[-1]["id"]) if found and found[-1]["walked"] == rows else None
    matches = []
    for row in found:
        del row["walked"]
        if row.pop("matched"):
            matches.append(row)
    return matches, None if len(matches) >= limit else end


@dataclass
class _Search:
    rows: list[dict[str, Any]]
    stopped_at: Cursor | None = None  # set when the page budget ran out before the page was full
    scanned: int = 0
    index_failed: bool = False  # the index query was cancelled (or, with `scan`, was on an earlier page)


def _search_rows(*, project_id: int, filters: TraceFilters, limit: int) -> _Search:
    """The first `limit` traces of the search in the filters' sort: exactly the rows of the plain ordered
    query, found by walking the newest traces first, then the trigram index for the rest (see above) -- or,
    when SEARCH_PAGE_BUDGET_S runs out first, the rows found so far and the cursor where the search stopped.
    With `filters.scan` (a page after one whose index query ran out of time) the index is not tried again: it
    only walks. A page that ran out of time in its first walk steps tries the index again on the next page."""
    deadline = time.monotonic() + SEARCH_PAGE_BUDGET_S
    found = _Search(rows=[], index_failed=filters.scan)
    cursor = filters.cursor

    def walk(step: int) -> Cursor | None:
        matches, after = _search_walk(
            project_id=project_id, filters=filters, cursor=cursor, rows=step, limit=limit - len(found.rows)
        )
        found.rows += matches
        found.scanned += step
        return after

    if not filters.scan:
        for step, following in zip(SEARCH_WALK_STEPS, (*SEARCH_WALK_STEPS[1:], 0), strict=True):
            before = len(found.rows)
            cursor = walk(step)
            if cursor is None:  # the page is full, or the walk reached the end of the range
                return found
            if time.monotonic() >= deadline:
                found.stopped_at = cursor
                return found
            # At this rate the next step would not fill the page either: the term is rare enough for the index.
            if (len(found.rows) - before) * following < (limit - len(found.rows)) * step:
                break
        left_ms = (deadline - time.monotonic()) * 1000
        if left_ms >= SEARCH_INDEX_MIN_MS:
            rest = _ordered(trace_list_queryset(project_id=project_id, filters=filters), filters, cursor)
            try:
                with _search_budget(True, left_ms):
                    found.rows += list(_page_values(rest)[: limit - len(found.rows)])
                return found
            except TraceSearchTimeout:  # too many candidates: the words are common, the text is not; walk instead
                found.index_failed = True
    # Walk on in steps sized to the time left, at the rate the last step read traces.
    step = SEARCH_WALK_STEPS[0]
    while True:
        started = time.monotonic()
        cursor = walk(step)
        if cursor is None:
            return found
        now = time.monotonic()
        if now >= deadline:
            found.stopped_at = cursor
            return found
        per_trace = max(now - started, 1e-6) / step
        step = max(SEARCH_WALK_STEPS[0], min(SEARCH_SCAN_MAX_STEP, int((deadline - now) / per_trace)))


def trace_list_page(*, project_id: int, filters: TraceFilters, size: int = TRACE_PAGE_SIZE) -> TraceListPage:
    """One page of the trace list in the filters' sort, after the filters' cursor. Two queries (with `q`, a few
    more: its time budget, one per walk step, the index search, the scores); a search that runs out of its page
    budget answers a partial page, and raises TraceSearchTimeout only when one statement runs past
    SEARCH_TIMEOUT_MS."""
    search = _Search(rows=[])
    if filters.q:
        with _search_budget(True):
            search = _search_rows(project_id=project_id, filters=filters, limit=size + 1)
        rows = search.rows
    else:
        traces = _ordered(trace_list_queryset(project_id=project_id, filters=filters), filters, filters.cursor)
        rows = list(_page_values(traces)[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    scores = trace_scores_by_trace(project_id=project_id, trace_ids=[row["id"] for row in rows])
    for row in rows:
        row["scores"] = scores.get(row["id"], [])
    last = rows[-1] if more else None
    next_cursor = Cursor(value=last["sort_value"], id=last["id"]) if last is not None else search.stopped_at
    return TraceListPage(
        rows=rows,
        next_cursor=next_cursor,
        partial=last is None and search.stopped_at is not None,
        scanned=search.scanned,
        scan=search.index_failed and next_cursor is not None,
    )


def trace_list_new_count(*, project_id: int, filters: TraceFilters, since: datetime) -> int:
    """How many traces that pass the filters arrived after `since` (capped at NEW_TRACES_CAP).

    `created_at` says when a trace arrived; the extra bound on its start time keeps this an index range
    scan of the last hour on `trace_sort_time` instead of a pass over the whole window."""
    traces = trace_list_queryset(project_id=project_id, filters=filters).filter(
        created_at__gt=since, timestamp__gte=since - NEW_TRACES_LOOKBACK
    )
    with _search_budget(bool(filters.q)):
        return traces.values("id")[:NEW_TRACES_CAP].count()


def project_has_traces(*, project_id: int) -> bool:
    return Trace.objects.filter(project_id=project_id).exists()


SUGGESTION_SAMPLE = 1_000  # recent rows read for the filter inputs' suggestions
SUGGESTION_MAX = 50


def trace_filter_suggestions(*, project_id: int) -> dict[str, list[str]]:
    """Values to offer in the filter inputs (name, env, release, model), from the newest traces and spans only:
    a bounded read of `trace_sort_time` / `obs_project_time`, never a DISTINCT over the project; score names
    and labels (`score`, `score_value`) from the project's score configs. One query."""
    sql = """
        WITH recent AS (
            SELECT name, environment, release FROM traces_trace
            WHERE project_id = %(p)s ORDER BY timestamp DESC LIMIT %(n)s
        ), configs AS (
            SELECT name, data_type, categories FROM traces_scoreconfig WHERE project_id = %(p)s AND NOT is_archived
        )
        SELECT
            (SELECT array_agg(DISTINCT name) FILTER (WHERE name IS NOT NULL) FROM recent),
            (SELECT array_agg(DISTINCT environment) FROM recent),
            (SELECT array_agg(DISTINCT release) FILTER (WHERE release IS NOT NULL) FROM recent),
            (SELECT array_agg(DISTINCT model) FROM (
                SELECT model FROM traces_observation WHERE project_id = %(p)s AND model IS NOT NULL
                ORDER BY start_time DESC LIMIT %(n)s
            ) spans),
            (SELECT array_agg(name) FROM configs),
            (SELECT array_agg(DISTINCT label) FILTER (WHERE label IS NOT NULL) FROM (
                SELECT item ->> 'label' AS label FROM configs CROSS JOIN LATERAL jsonb_array_elements(
                    CASE WHEN jsonb_typeof(categories) = 'array' THEN categories ELSE '[]'::jsonb END
                ) AS item WHERE data_type = 'CATEGORICAL'
                UNION ALL
                SELECT unnest(ARRAY['True', 'False']) FROM configs WHERE data_type = 'BOOLEAN'
            ) labels)
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"p": project_id, "n": SUGGESTION_SAMPLE})
        names, envs, releases, models, scores, labels = cursor.fetchone()
    found = (
        ("name", names),
        ("env", envs),
        ("release", releases),
        ("model", models),
        ("score", scores),
        ("score_value", labels),
    )
    return {key: sorted(values or [])[:SUGGESTION_MAX] for key, values in found}


def trace_bookmarked(*, project_id: int, trace_id: str) -> bool | None:
    """Whether the trace is starred; None when the project has no such trace."""
    return Trace.objects.filter(project_id=project_id, id=trace_id).values_list("bookmarked", flat=True).first()


# --- Prompt usage by version (the prompt page embeds traces/views_prompt_usage.py) ---


@dataclass(frozen=True)
class PromptVersionUsage:
    """What generations that recorded one prompt version did: volume, tokens, cost, timing, scores."""

    version: int | None
    generations: int
    errors: int
    input_tokens: int
    output_tokens: int
    cost: Decimal | None
    avg_latency_ms: float | None
    avg_ttft_ms: float | None
    last_used: datetime
    # (score name, average, count): scores from any source but feedback, and end-user feedback apart.
    scores: list[tuple[str, float, int]]
    feedback: list[tuple[str, float, int]]


_PROMPT_USAGE_SQL = """
SELECT prompt_version, count(*), count(*) FILTER (WHERE level = 'ERROR'),
       coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0), sum(total_cost),
       avg(extract(epoch FROM end_time - start_time) * 1000),
       avg(extract(epoch FROM completion_start_time - start_time) * 1000),
       max(start_time)
FROM traces_observation
WHERE project_id = %(project)s AND prompt_name = %(name)s
GROUP BY prompt_version
ORDER BY prompt_version DESC NULLS LAST
"""

# A trace-level score counts for every version the trace used, once per version (DISTINCT), and an
# observation-level score only for the generation it was given to.
_PROMPT_SCORES_SQL = """
WITH g AS (
    SELECT prompt_version, trace_id, id FROM traces_observation
    WHERE project_id = %(project)s AND prompt_name = %(name)s
)
SELECT prompt_version, name, feedback, avg(value), count(*)
FROM (
    SELECT DISTINCT g.prompt_version, s.id, s.name, s.source = 'FEEDBACK' AS feedback, s.value
    FROM g JOIN traces_score s
      ON s.project_id = %(project)s AND s.trace_id = g.trace_id
     AND (s.observation_id IS NULL OR s.observation_id = g.id)
    WHERE s.value IS NOT NULL AND s.data_type IN ('NUMERIC', 'BOOLEAN')
) scored
GROUP BY prompt_version, name, feedback
ORDER BY name
"""


def prompt_version_usage(*, project_id: int, prompt_name: str) -> list[PromptVersionUsage]:
    """Per version of a prompt, newest first: two queries over the (project, prompt_name, prompt_version) index."""
    params = {"project": project_id, "name": prompt_name}
    with connection.cursor() as cursor:
        cursor.execute(_PROMPT_USAGE_SQL, params)
        usage_rows = cursor.fetchall()
        cursor.execute(_PROMPT_SCORES_SQL, params)
        score_rows = cursor.fetchall()
    scores: dict[tuple[int | None, bool], list[tuple[str, float, int]]] = defaultdict(list)
    for version, name, feedback, average, count in score_rows:
        scores[(version, feedback)].append((name, float(average), count))
    return [
        PromptVersionUsage(
            version=version,
            generations=generations,
            errors=errors,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost=cost,
            avg_latency_ms=float(latency) if latency is not None else None,
            avg_ttft_ms=float(ttft) if ttft is not None else None,
            last_used=last_used,
            scores=scores[(version, False)],
            feedback=scores[(version, True)],
        )
        for version, generations, errors, input_tokens, output_tokens, cost, latency, ttft, last_used in usage_rows
    ]
