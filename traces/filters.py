"""The trace list's query parameters, parsed into one immutable value.

Every UI state lives in the URL (the brief's agreed names). A bad value never fails the page: it is
dropped and described in `TraceFilters.problems`, which the page shows above the table.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol
from urllib.parse import urlencode

from traces.models import Level

RANGES: dict[str, timedelta | None] = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
    "all": None,
}
RANGE_LABELS = {
    "1h": "Last hour",
    "6h": "Last 6 hours",
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "all": "All time",
}
DEFAULT_RANGE = "7d"
SORTS = ("time", "latency", "cost", "tokens")
DEFAULT_SORT = "-time"
# Columns a person may hide (`col`, repeatable); the name column, which links to the trace, always shows.
COLUMNS = {
    "time": "Time",
    "user": "User",
    "session": "Session",
    "tags": "Tags",
    "env": "Environment",
    "latency": "Latency",
    "tokens": "Tokens",
    "cost": "Cost",
    "scores": "Scores",
    "io": "Input / output",
}
# Shown until someone picks columns: what fits beside the sidebar at 1280px without scrolling sideways.
DEFAULT_COLUMNS = ("time", "user", "tags", "latency", "tokens", "cost", "scores", "io")
TEXT_MAX = 500  # a filter value longer than any stored name/id is a mistake, not a search
LIST_MAX = 20  # repeatable parameters (tag, meta)


class QueryParams(Protocol):
    def get(self, key: str, default: Any = ...) -> Any: ...
    def getlist(self, key: str) -> list[str]: ...


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: the last row's sort value and id (keyset pagination)."""

    value: datetime | int | Decimal
    id: str

    def encode(self) -> str:
        value = self.value.isoformat() if isinstance(self.value, datetime) else str(self.value)
        raw = json.dumps([value, self.id], ensure_ascii=False).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass(frozen=True)
class TraceFilters:
    range: str = DEFAULT_RANGE
    date_from: datetime | None = None
    date_to: datetime | None = None
    start: datetime | None = None  # the time window the query uses (from the preset or from/to)
    end: datetime | None = None
    name: str = ""
    user: str = ""
    session: str = ""
    tags: tuple[str, ...] = ()
    env: str = ""
    release: str = ""
    model: str = ""
    level: str = ""
    errors: bool = False
    score: str = ""
    score_value: str = ""  # a label of a CATEGORICAL score, or True/False of a BOOLEAN one
    score_min: float | None = None
    score_max: float | None = None
    cost_min: Decimal | None = None
    cost_max: Decimal | None = None
    latency_min: int | None = None
    latency_max: int | None = None
    meta: tuple[tuple[str, str], ...] = ()
    q: str = ""
    starred: bool = False
    sort: str = DEFAULT_SORT
    cursor: Cursor | None = None
    # Paging state like the cursor: this page goes on with a search whose page budget ran out (walk, no index).
    scan: bool = False
    columns: tuple[str, ...] = DEFAULT_COLUMNS
    problems: tuple[str, ...] = field(default=(), compare=False)

    @property
    def sort_key(self) -> str:
        return self.sort.lstrip("-")

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")

    def params(self) -> list[tuple[str, str]]:
        """The state as query parameters (defaults and the cursor left out), in a stable order."""
        pairs: list[tuple[str, str]] = []
        if self.date_from or self.date_to:
            if self.date_from:
                pairs.append(("from", _iso(self.date_from)))
            if self.date_to:
                pairs.append(("to", _iso(self.date_to)))
        elif self.range != DEFAULT_RANGE:
            pairs.append(("range", self.range))
        for key in ("name", "user", "session"):
            if getattr(self, key):
                pairs.append((key, getattr(self, key)))
        pairs += [("tag", tag) for tag in self.tags]
        for key in ("env", "release", "model", "level"):
            if getattr(self, key):
                pairs.append((key, getattr(self, key)))
        if self.errors:
            pairs.append(("errors", "1"))
        if self.score:
            pairs.append(("score", self.score))
        if self.score_value:
            pairs.append(("score_value", self.score_value))
        for key in ("score_min", "score_max", "cost_min", "cost_max", "latency_min", "latency_max"):
            if getattr(self, key) is not None:
                pairs.append((key, _number(getattr(self, key))))
        pairs += [("meta", f"{key}={value}") for key, value in self.meta]
        if self.q:
            pairs.append(("q", self.q))
        if self.starred:
            pairs.append(("starred", "1"))
        if self.sort != DEFAULT_SORT:
            pairs.append(("sort", self.sort))
        if self.columns != DEFAULT_COLUMNS:
            pairs += [("col", column) for column in self.columns]
        return pairs

    def query(self, *, drop: tuple[tuple[str, str | None], ...] = (), **changes: str) -> str:
        """A query string for this state without the `drop` pairs (value None drops every value of the
        key) and with `changes` replacing whole keys; always without a cursor."""
        pairs = [
            (key, value)
            for key, value in self.params()
            if key not in changes and not any(key == k and v in (None, value) for k, v in drop)
        ]
        pairs += [(key, value) for key, value in changes.items() if value]
        return urlencode(pairs)

    def sort_query(self, key: str) -> str:
        """The query that sorts by `key`: descending first, the other way when already sorted by it."""
        target = key if self.sort == f"-{key}" else f"-{key}"
        return self.query(sort="" if target == DEFAULT_SORT else target)

    @property
    def is_filtered(self) -> bool:
        """Whether anything narrows the list beyond the default time window."""
        return any(key not in ("sort", "col") for key, _ in self.params())

    def chips(self) -> list[tuple[str, str]]:
        """(label, query without it) for every active filter, so each can be removed on its own."""
        chips: list[tuple[str, str]] = []
        if self.date_from or self.date_to:
            label = f"{_short(self.date_from) or '…'} → {_short(self.date_to) or 'now'}"
            chips.append((label, self.query(drop=(("from", None), ("to", None)))))
        elif self.range != DEFAULT_RANGE:
            chips.append((RANGE_LABELS[self.range], self.query(drop=(("range", None),))))
        labels = {"name": "name", "user": "user", "session": "session", "env": "env", "release": "release"}
        labels |= {"model": "model", "level": "level", "score": "score", "q": "search"}
        for key, value in self.params():
            if key in labels:
                drop: tuple[tuple[str, str | None], ...] = ((key, value),)
                if key == "score":
                    drop += (("score_value", None), ("score_min", None), ("score_max", None))
                chips.append((f"{labels[key]}: {value}", self.query(drop=drop)))
            elif key == "score_value":
                chips.append((f"{self.score} is {value}", self.query(drop=((key, None),))))
            elif key in ("tag", "meta"):
                chips.append((f"{key}: {value}", self.query(drop=((key, value),))))
        if self.errors:
            chips.append(("has errors", self.query(drop=(("errors", None),))))
        if self.starred:
            chips.append(("starred", self.query(drop=(("starred", None),))))
        for low, high, label, unit in (
            ("score_min", "score_max", self.score or "score", ""),
            ("cost_min", "cost_max", "cost", " USD"),
            ("latency_min", "latency_max", "latency", " ms"),
        ):
            lo, hi = getattr(self, low), getattr(self, high)
            if lo is not None or hi is not None:
                text = f"{_number(lo) if lo is not None else '…'} to {_number(hi) if hi is not None else '…'}{unit}"
                chips.append((f"{label} {text}", self.query(drop=((low, None), (high, None)))))
        return chips


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def _short(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%b %-d %H:%M") if value else ""


def _number(value: float | Decimal | int) -> str:
    text = format(value, "f") if isinstance(value, Decimal) else str(value)
    return text.rstrip("0").rstrip(".") if "." in text else text


def _text(params: QueryParams, key: str, problems: list[str]) -> str:
    value = (params.get(key) or "").strip()
    if len(value) > TEXT_MAX:
        problems.append(f"{key} is longer than {TEXT_MAX} characters; it was ignored.")
        return ""
    if "\x00" in value:  # PostgreSQL text cannot hold it, and no stored name or id has one
        problems.append(f"{key} contains a NUL character; it was ignored.")
        return ""
    return value


def _datetime(params: QueryParams, key: str, problems: list[str]) -> datetime | None:
    raw = (params.get(key) or "").strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            problems.append(f"“{raw[:40]}” is not a date and time for {key} (use ISO 8601, e.g. 2026-11-01T09:30).")
            return None
        value = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # the page shows and takes UTC


def _number_param[N: (float, int, Decimal)](
    params: QueryParams, key: str, kind: type[N], problems: list[str]
) -> N | None:
    raw = (params.get(key) or "").strip()
    if not raw:
        return None
    try:
        value = Decimal(raw)
        if not value.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        problems.append(f"{key} must be a number; “{raw[:40]}” was ignored.")
        return None
    if kind is int:
        return int(value.to_integral_value())  # type: ignore[return-value]
    return kind(value)  # type: ignore[call-arg]


def _range_pair[N: (float, int, Decimal)](
    params: QueryParams, low: str, high: str, kind: type[N], problems: list[str], *, non_negative: bool
) -> tuple[N | None, N | None]:
    lo = _number_param(params, low, kind, problems)
    hi = _number_param(params, high, kind, problems)
    if non_negative:
        for key, value in ((low, lo), (high, hi)):
            if value is not None and value < 0:
                problems.append(f"{key} cannot be negative; it was ignored.")
        lo = None if lo is not None and lo < 0 else lo
        hi = None if hi is not None and hi < 0 else hi
    if lo is not None and hi is not None and lo > hi:
        problems.append(f"{low} is greater than {high}; the range was ignored.")
        return None, None
    return lo, hi


def _cursor(raw: str, sort_key: str, problems: list[str]) -> Cursor | None:
    if not raw:
        return None
    try:
        value, trace_id = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        if not isinstance(trace_id, str) or not isinstance(value, str) or "\x00" in trace_id:
            raise ValueError
        typed: datetime | int | Decimal
        if sort_key == "time":
            typed = datetime.fromisoformat(value)
            if typed.tzinfo is None:
                raise ValueError
        elif sort_key == "cost":
            typed = Decimal(value)
            if not typed.is_finite() or abs(typed.adjusted()) > 100:  # NaN, Infinity, 1E+999999: never a cost
                raise ValueError
        else:
            typed = int(value)
    except (ValueError, TypeError, InvalidOperation, binascii.Error, UnicodeDecodeError):
        problems.append("The page link is out of date or damaged; showing the first page.")
        return None
    return Cursor(value=typed, id=trace_id)


def parse_trace_filters(params: QueryParams | Mapping[str, Any], *, now: datetime) -> TraceFilters:
    problems: list[str] = []
    p: QueryParams = params  # type: ignore[assignment]

    # from/to make a custom window unless a preset is chosen explicitly (the form's select sends "custom"
    # while the custom window is in use, so picking a preset there replaces it).
    chosen = (p.get("range") or "").strip()
    chosen = "" if chosen == "custom" else chosen
    preset = chosen or DEFAULT_RANGE
    if preset not in RANGES:
        problems.append(f"Unknown time range “{preset[:20]}”; showing {RANGE_LABELS[DEFAULT_RANGE].lower()}.")
        preset = DEFAULT_RANGE
    date_from = None if chosen else _datetime(p, "from", problems)
    date_to = None if chosen else _datetime(p, "to", problems)
    if date_from and date_to and date_from > date_to:
        problems.append("from is after to; the custom time range was ignored.")
        date_from = date_to = None
    if date_from or date_to:
        start, end = date_from, date_to
    else:
        span = RANGES[preset]
        start, end = (now - span if span else None), None

    level = _text(p, "level", problems).upper()
    if level and level not in Level.values:
        problems.append(f"Unknown level “{level[:20]}” (use {', '.join(Level.values)}).")
        level = ""

    tags = tuple(dict.fromkeys(t.strip() for t in p.getlist("tag") if t.strip()))
    if any("\x00" in tag for tag in tags):
        problems.append("A tag contains a NUL character; it was ignored.")
        tags = tuple(tag for tag in tags if "\x00" not in tag)
    if len(tags) > LIST_MAX:
        problems.append(f"Only the first {LIST_MAX} tags are used.")
    meta: list[tuple[str, str]] = []
    for raw in p.getlist("meta"):
        key, sep, value = raw.strip().partition("=")
        if not raw.strip():
            continue
        if not sep or not key.strip():
            problems.append(f"Metadata filter “{raw[:40]}” must look like key=value.")
            continue
        if "\x00" in raw:
            problems.append("A metadata filter contains a NUL character; it was ignored.")
            continue
        meta.append((key.strip(), value.strip()))

    score = _text(p, "score", problems)
    score_value = _text(p, "score_value", problems)
    if score_value and not score:
        problems.append("A score label needs a score name (score=…); it was ignored.")
        score_value = ""
    score_min, score_max = _range_pair(p, "score_min", "score_max", float, problems, non_negative=False)
    if (score_min is not None or score_max is not None) and not score:
        problems.append("A score range needs a score name (score=…); it was ignored.")
        score_min = score_max = None
    cost_min, cost_max = _range_pair(p, "cost_min", "cost_max", Decimal, problems, non_negative=True)
    latency_min, latency_max = _range_pair(p, "latency_min", "latency_max", int, problems, non_negative=True)

    sort = (p.get("sort") or DEFAULT_SORT).strip()
    if sort.lstrip("-") not in SORTS:
        problems.append(f"Cannot sort by “{sort[:20]}”; sorted by newest first.")
        sort = DEFAULT_SORT

    columns = tuple(c for c in COLUMNS if c in set(p.getlist("col"))) or DEFAULT_COLUMNS

    return TraceFilters(
        range=preset,
        date_from=date_from,
        date_to=date_to,
        start=start,
        end=end,
        name=_text(p, "name", problems),
        user=_text(p, "user", problems),
        session=_text(p, "session", problems),
        tags=tags[:LIST_MAX],
        env=_text(p, "env", problems),
        release=_text(p, "release", problems),
        model=_text(p, "model", problems),
        level=level,
        errors=p.get("errors") == "1",
        score=score,
        score_value=score_value,
        score_min=score_min,
        score_max=score_max,
        cost_min=cost_min,
        cost_max=cost_max,
        latency_min=latency_min,
        latency_max=latency_max,
        meta=tuple(dict.fromkeys(meta))[:LIST_MAX],
        q=_text(p, "q", problems),
        starred=p.get("starred") == "1",
        sort=sort,
        cursor=_cursor((p.get("cursor") or "").strip(), sort.lstrip("-"), problems),
        scan=p.get("scan") == "1",
        columns=columns,
        problems=tuple(problems),
    )
