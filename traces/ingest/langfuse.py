"""Langfuse batch ingestion events and score objects → the neutral model (TraceIn / ObservationIn / ScoreIn).

Per reference/langfuse-api.md §2.1 and §1.4. Each event is validated on its own: a bad event becomes an error
entry naming the field, never a failed request. Events of one entity are folded the way Langfuse merges them
(creates before updates, each by timestamp; later non-null values win, metadata objects merge, tags union),
so an update may arrive before its create and a child before its trace. Every value is bounded with the shared
helpers in normalise.py (NUL escaped, long strings cut with a marker, deep JSON stringified).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from traces.ingest import limits
from traces.ingest.normalise import (
    LANGFUSE_TYPES,
    bound,
    clean_text,
    cost_details,
    environment_clean,
    int_or_none,
    iso_time,
    text_clean,
    usage_details,
)
from traces.models import ID_MAX, Observation
from traces.services import ObservationIn, ScoreIn, TraceIn

MAX_INGESTION_VERSION = 4
_LEVELS = ("DEBUG", "DEFAULT", "WARNING", "ERROR")
# Event type → (observation type or None = from body.type, is an update).
_OBSERVATION_EVENTS: dict[str, tuple[str | None, bool]] = {
    **{f"{name}-create": (kind, False) for name, kind in LANGFUSE_TYPES.items()},
    "span-update": ("SPAN", True),
    "generation-update": ("GENERATION", True),
    "observation-create": (None, False),
    "observation-update": (None, True),
}
_IGNORED_EVENTS = {"sdk-log"}
_LEGACY_USAGE_KEYS = {"promptTokens": "input", "completionTokens": "output", "totalTokens": "total"}
_LEGACY_COST_KEYS = {"inputCost": "input", "outputCost": "output", "totalCost": "total"}
_SCORE_TYPES = ("NUMERIC", "BOOLEAN", "CATEGORICAL", "TEXT")
_SCORE_SOURCES = ("API", "EVAL", "ANNOTATION")


class EventError(Exception):
    """One event (or score object) is invalid: `field` names the offending key."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


# --- field readers --------------------------------------------------------------------------------------


def _identifier(body: dict[str, Any], key: str, prefix: str, *, required: bool, max_chars: int = ID_MAX) -> str | None:
    value = body.get(key)
    name = f"{prefix}{key}"
    if value is None or value == "":
        if required:
            raise EventError(name, f"{name} is required.")
        return None
    if not isinstance(value, str):
        raise EventError(name, f"{name} must be a string.")
    if len(value) > max_chars:
        raise EventError(name, f"{name} is longer than {max_chars} characters.")
    if any(c in value for c in "\x00\r\n"):
        raise EventError(name, f"{name} must not contain NUL or line breaks.")
    return value


def time_from_nanos(body: dict[str, Any], key: str, prefix: str, now: datetime) -> datetime | None:
    value = body.get(key)
    name = f"{prefix}{key}"
    if value is None:
        return None
    parsed = iso_time(value) if isinstance(value, str) else None
    if parsed is None:
        raise EventError(name, f"{name} is not an ISO 8601 timestamp: {str(value)[:100]!r}.")
    if not limits.EARLIEST_TIMESTAMP <= parsed <= now + limits.MAX_FUTURE:
        raise EventError(name, f"{name} {parsed.isoformat()} is outside the accepted window.")
    return parsed


def _string(body: dict[str, Any], key: str, max_chars: int = 1000) -> str | None:
    return text_clean(body.get(key), max_chars)


def _object(body: dict[str, Any], key: str, prefix: str) -> dict[str, Any]:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise EventError(f"{prefix}{key}", f"{prefix}{key} must be an object.")
    return value


def _level(body: dict[str, Any], prefix: str) -> str | None:
    value = body.get("level")
    if value is None:
        return None
    if not isinstance(value, str) or value.upper() not in _LEVELS:
        raise EventError(f"{prefix}level", f"{prefix}level must be one of {', '.join(_LEVELS)}.")
    return value.upper()


def _tags(body: dict[str, Any], prefix: str) -> list[str]:
    value = body.get("tags")
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise EventError(f"{prefix}tags", f"{prefix}tags must be a list of strings.")
    return sorted({clean_text(t)[:200] for t in value if t})


def _bool(body: dict[str, Any], key: str, prefix: str) -> bool | None:
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise EventError(f"{prefix}{key}", f"{prefix}{key} must be a boolean.")
    return value


def _usage(body: dict[str, Any], prefix: str) -> dict[str, int] | None:
    """Legacy `usage` ({input,output,total,unit} or {promptTokens,completionTokens,totalTokens}) and
    `usageDetails` (an int map, or raw OpenAI usage with nested *_details, flattened with details subtracted)."""
    result: dict[str, int] = {}
    legacy = _object(body, "usage", prefix)
    if legacy:
        mapped = {
            _LEGACY_USAGE_KEYS.get(k, k): v for k, v in legacy.items() if k != "unit" and k not in _LEGACY_COST_KEYS
        }
        result.update(usage_details(mapped) or {})
    details = _object(body, "usageDetails", prefix)
    if details:
        flat: dict[str, Any] = {}
        subtract = {"input": 0, "output": 0}
        for key, value in details.items():
            if isinstance(value, dict):
                side = "input" if key.startswith(("prompt", "input")) else "output"
                for sub_key, sub_value in value.items():
                    number = int_or_none(sub_value)
                    if number:
                        flat[f"{side}_{sub_key}"] = number
                        subtract[side] += number
            else:
                flat[key] = value
        mapped_details = usage_details(flat) or {}
        for side, amount in subtract.items():
            if amount and side in mapped_details:
                mapped_details[side] = max(mapped_details[side] - amount, 0)
        result.update(mapped_details)
    return result or None


def _cost(body: dict[str, Any], prefix: str) -> dict[str, float] | None:
    provided = _object(body, "costDetails", prefix)
    if provided:
        return cost_details(provided)
    legacy = _object(body, "usage", prefix)
    return cost_details({_LEGACY_COST_KEYS[k]: v for k, v in legacy.items() if k in _LEGACY_COST_KEYS})


# --- per-entity mapping ---------------------------------------------------------------------------------


def trace_from(body: dict[str, Any], *, timestamp: datetime, now: datetime, prefix: str = "body.") -> TraceIn:
    return TraceIn(
        id=_identifier(body, "id", prefix, required=True),  # type: ignore[arg-type]
        timestamp=time_from_nanos(body, "timestamp", prefix, now) or timestamp,
        name=_string(body, "name"),
        user_id=_string(body, "userId"),
        session_id=_identifier(body, "sessionId", prefix, required=False, max_chars=1000),
        tags=_tags(body, prefix),
        metadata=bound(body.get("metadata")),
        input=bound(body.get("input")),
        output=bound(body.get("output")),
        environment=environment_clean(body.get("environment")),
        release=_string(body, "release", 200),
        version=_string(body, "version", 200),
        public=_bool(body, "public", prefix),
    )


def observation_from(
    body: dict[str, Any], *, obs_type: str | None, timestamp: datetime, now: datetime, prefix: str = "body."
) -> ObservationIn:
    """`start_time`, `trace_id` and `type` may be None here (an update): filled in by `observations_complete`."""
    if obs_type is None and body.get("type") is not None:
        raw_type = body.get("type")
        if not isinstance(raw_type, str) or raw_type.lower() not in LANGFUSE_TYPES:
            raise EventError(f"{prefix}type", f"{prefix}type must be one of {', '.join(LANGFUSE_TYPES.values())}.")
        obs_type = LANGFUSE_TYPES[raw_type.lower()]
    start = time_from_nanos(body, "startTime", prefix, now)
    end = time_from_nanos(body, "endTime", prefix, now)
    if start is not None and end is not None and end < start:
        end = start
    prompt_version = body.get("promptVersion")
    if prompt_version is not None and (
        isinstance(prompt_version, bool) or int_or_none(prompt_version) is None or abs(int(prompt_version)) >= 2**31
    ):
        raise EventError(f"{prefix}promptVersion", f"{prefix}promptVersion must be an integer.")
    cost = _cost(body, prefix)
    model_parameters = body.get("modelParameters")
    if model_parameters is not None and not isinstance(model_parameters, dict):
        raise EventError(f"{prefix}modelParameters", f"{prefix}modelParameters must be an object.")
    return ObservationIn(
        id=_identifier(body, "id", prefix, required=True),  # type: ignore[arg-type]
        trace_id=_identifier(body, "traceId", prefix, required=False),  # type: ignore[arg-type]
        start_time=start,  # type: ignore[arg-type]
        type=obs_type,  # type: ignore[arg-type]
        parent_id=_identifier(body, "parentObservationId", prefix, required=False),
        name=_string(body, "name"),
        end_time=end,
        completion_start_time=time_from_nanos(body, "completionStartTime", prefix, now),
        level=_level(body, prefix),
        status_message=_string(body, "statusMessage", limits.MAX_ATTRIBUTE_CHARS),
        model=_string(body, "model", 200),
        model_parameters=bound(model_parameters) or None,
        input=bound(body.get("input")),
        output=bound(body.get("output")),
        metadata=bound(body.get("metadata")),
        usage=_usage(body, prefix),
        cost=cost,
        cost_source="provided" if cost else None,
        prompt_name=_string(body, "promptName", 500),
        prompt_version=int(prompt_version) if prompt_version is not None else None,
        environment=environment_clean(body.get("environment")),
        version=_string(body, "version", 200),
    )


def score_from(body: dict[str, Any], *, timestamp: datetime, now: datetime, prefix: str = "body.") -> ScoreIn:
    """A score object (ingestion `score-create` body or `POST /scores` item); the id is generated when absent."""
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise EventError(f"{prefix}name", f"{prefix}name is required.")
    data_type = body.get("dataType")
    if data_type is not None and (not isinstance(data_type, str) or data_type.upper() not in _SCORE_TYPES):
        raise EventError(f"{prefix}dataType", f"{prefix}dataType must be one of {', '.join(_SCORE_TYPES)}.")
    value = body.get("value")
    if value is None:
        raise EventError(f"{prefix}value", f"{prefix}value is required.")
    number: float | None = None
    string_value: str | None = None
    if isinstance(value, bool):
        data_type = data_type or "BOOLEAN"
        number = 1.0 if value else 0.0
    elif isinstance(value, int | float):
        data_type = data_type or "NUMERIC"
        number = float(value)
        if number != number or number in (float("inf"), float("-inf")):
            raise EventError(f"{prefix}value", f"{prefix}value must be a finite number.")
    elif isinstance(value, str):
        data_type = data_type or "CATEGORICAL"
        string_value = clean_text(value)
    else:
        raise EventError(f"{prefix}value", f"{prefix}value must be a number or a string.")
    data_type = data_type.upper()
    if data_type == "NUMERIC" and number is None:
        raise EventError(f"{prefix}value", f"{prefix}value must be a number for a NUMERIC score.")
    if data_type == "BOOLEAN":
        if string_value is not None and string_value.lower() in ("true", "false"):
            number = 1.0 if string_value.lower() == "true" else 0.0
        if number not in (0.0, 1.0):
            raise EventError(f"{prefix}value", f"{prefix}value must be 0 or 1 for a BOOLEAN score.")
        string_value = "True" if number == 1.0 else "False"
    if data_type in ("CATEGORICAL", "TEXT") and string_value is None:
        string_value = clean_text(str(int(number) if number is not None and number.is_integer() else number))
        number = None
    source = body.get("source")
    score = ScoreIn(
        id=_identifier(body, "id", prefix, required=False) or str(uuid.uuid4()),
        name=clean_text(name)[:500],
        timestamp=time_from_nanos(body, "timestamp", prefix, now) or timestamp,
        value=number,
        string_value=string_value,
        data_type=data_type,
        source=source.upper() if isinstance(source, str) and source.upper() in _SCORE_SOURCES else "API",
        trace_id=_identifier(body, "traceId", prefix, required=False),
        observation_id=_identifier(body, "observationId", prefix, required=False),
        session_id=_identifier(body, "sessionId", prefix, required=False, max_chars=1000),
        dataset_run_id=_identifier(body, "datasetRunId", prefix, required=False),
        comment=_string(body, "comment", limits.MAX_ATTRIBUTE_CHARS),
        metadata=bound(body.get("metadata")),
        config_id=_identifier(body, "configId", prefix, required=False, max_chars=200),
        environment=environment_clean(body.get("environment")),
    )
    if not (score.trace_id or score.session_id or score.dataset_run_id):
        raise EventError(f"{prefix}traceId", f"{prefix}traceId, sessionId or datasetRunId is required.")
    return score


# --- the batch ------------------------------------------------------------------------------------------


@dataclass
class _Parsed:
    event_id: Any
    kind: str  # "trace" | "observation" | "score"
    row: Any
    is_update: bool
    timestamp: datetime
    index: int


@dataclass
class _Entity:
    row: Any
    event_ids: list[Any]
    first_timestamp: datetime


@dataclass
class LangfuseBatch:
    traces: list[TraceIn] = field(default_factory=list)
    observations: list[ObservationIn] = field(default_factory=list)
    scores: list[ScoreIn] = field(default_factory=list)
    successes: list[Any] = field(default_factory=list)  # event ids
    errors: list[dict[str, Any]] = field(default_factory=list)

    def error(self, event_id: Any, message: str, field_name: str | None = None) -> None:
        entry: dict[str, Any] = {"id": event_id, "status": 400, "message": message, "error": "bad_request"}
        if field_name:
            entry["field"] = field_name
        self.errors.append(entry)


def _event_parse(event: Any, index: int, now: datetime) -> _Parsed | None:
    """One batch element → a parsed row, None for accepted-but-ignored events; raises EventError."""
    if not isinstance(event, dict):
        raise EventError(f"batch[{index}]", f"batch[{index}] must be an object.")
    event_type = event.get("type")
    if not isinstance(event_type, str):
        raise EventError("type", "type is required.")
    event_id = event.get("id")
    timestamp = time_from_nanos(event, "timestamp", "", now) or now
    if event_type in _IGNORED_EVENTS:
        return None
    body = event.get("body")
    if not isinstance(body, dict):
        raise EventError("body", "body must be an object.")
    if event_type == "trace-create":
        return _Parsed(event_id, "trace", trace_from(body, timestamp=timestamp, now=now), False, timestamp, index)
    if event_type in _OBSERVATION_EVENTS:
        obs_type, is_update = _OBSERVATION_EVENTS[event_type]
        row = observation_from(body, obs_type=obs_type, timestamp=timestamp, now=now)
        if not is_update and row.type is None:
            row.type = "SPAN"
        return _Parsed(event_id, "observation", row, is_update, timestamp, index)
    if event_type == "score-create":
        return _Parsed(event_id, "score", score_from(body, timestamp=timestamp, now=now), False, timestamp, index)
    raise EventError("type", f"Unknown event type {event_type[:100]!r}.")


def _fold(into: Any, row: Any) -> None:
    """Later non-null values win; metadata objects merge; tags union."""
    for f in fields(row):
        value = getattr(row, f.name)
        if value is None or value == []:
            continue
        current = getattr(into, f.name)
        if f.name == "timestamp" and isinstance(into, TraceIn):
            setattr(into, f.name, min(current, value))  # a trace starts at the earliest time reported
        elif f.name == "metadata" and isinstance(current, dict) and isinstance(value, dict):
            setattr(into, f.name, {**current, **value})
        elif f.name == "tags":
            setattr(into, f.name, sorted(set(current or []) | set(value)))
        else:
            setattr(into, f.name, value)


def batch_normalise(batch: list[Any], *, now: datetime) -> tuple[LangfuseBatch, dict[str, dict[str, _Entity]]]:
    """Parses every event; returns per-event errors and the folded entities (kind → id → entity)."""
    result = LangfuseBatch()
    parsed: list[_Parsed] = []
    for index, event in enumerate(batch):
        event_id = event.get("id") if isinstance(event, dict) else None
        if not isinstance(event_id, str) or not event_id:
            result.error(event_id, f"batch[{index}].id is required.", "id")
            continue
        try:
            item = _event_parse(event, index, now)
        except EventError as exc:
            result.error(event_id, exc.message, exc.field)
            continue
        if item is None:
            result.successes.append(event_id)
        else:
            parsed.append(item)
    # Creates before updates, each by timestamp (then by position), per entity.
    parsed.sort(key=lambda p: (p.is_update, p.timestamp, p.index))
    entities: dict[str, dict[str, _Entity]] = {"trace": {}, "observation": {}, "score": {}}
    for item in parsed:
        bucket = entities[item.kind]
        entity = bucket.get(item.row.id)
        if entity is None:
            bucket[item.row.id] = _Entity(row=item.row, event_ids=[item.event_id], first_timestamp=item.timestamp)
        else:
            _fold(entity.row, item.row)
            entity.event_ids.append(item.event_id)
            entity.first_timestamp = min(entity.first_timestamp, item.timestamp)
    return result, entities


def entities_complete(project_id: int, result: LangfuseBatch, entities: dict[str, dict[str, _Entity]]) -> None:
    """Completes observation updates that left out their trace id or start time from the stored row, and
    moves the rows into `result`. Other fields left out stay NULL: the write step keeps the stored values.

    At most one query per request, whatever the number of events.
    """
    traces, observations = entities["trace"], entities["observation"]
    need_obs = [oid for oid, e in observations.items() if e.row.trace_id is None or e.row.start_time is None]
    if need_obs:
        stored_obs = Observation.objects.filter(project_id=project_id, id__in=need_obs).values_list(
            "id", "trace_id", "start_time"
        )
        for oid, trace_id, start_time in stored_obs:
            row = observations[oid].row
            row.trace_id = row.trace_id or trace_id
            row.start_time = row.start_time or start_time
    for entity in traces.values():
        result.traces.append(entity.row)
        result.successes.extend(entity.event_ids)
    for entity in observations.values():
        row = entity.row
        if row.trace_id is None:
            for event_id in entity.event_ids:
                result.error(event_id, "body.traceId is required (the observation is not stored yet).", "body.traceId")
            continue
        row.start_time = row.start_time or entity.first_timestamp
        if row.end_time is not None and row.end_time < row.start_time:
            row.end_time = row.start_time
        result.observations.append(row)
        result.successes.extend(entity.event_ids)
    for entity in entities["score"].values():
        result.scores.append(entity.row)
        result.successes.extend(entity.event_ids)
