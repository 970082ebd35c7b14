"""OTLP log records → the neutral model: GenAI events (reference/otel-conventions.md §2) attach to their span.

A `gen_ai.client.inference.operation.details` record becomes an ObservationIn for its span id carrying only
what the event knows (messages, system instructions, model, usage, tool definitions); every other column is
None, which the write step reads as "not sent", so the span's own type, name, level… are never overwritten.
Its start time is the record's time: merged with the span's real start (the earliest wins), either arrival
order gives the same row. The older per-message events (`gen_ai.{system,user,assistant,tool}.message`,
`gen_ai.choice`) of one span are grouped into one input and one output list in the same message shape as
`gen_ai.input.messages`. `gen_ai.evaluation.result` becomes a score with an id derived from (trace, span, name).

Records that are not GenAI events, or carry no trace/span ids, are accepted and ignored; malformed GenAI
records (bad id lengths, no usable time, an evaluation without a name or score) are rejected with a reason.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from traces.ingest import limits
from traces.ingest.normalise import (
    MODEL_KEYS,
    Marks,
    NormalisedBatch,
    any_value,
    attributes,
    bound,
    first_of,
    float_or_none,
    genai_messages,
    json_loads,
    text_clean,
    time_from_nanos,
    usage,
)
from traces.services import ObservationIn, ScoreIn

log = logging.getLogger(__name__)

INFERENCE_DETAILS = "gen_ai.client.inference.operation.details"
EVALUATION_RESULT = "gen_ai.evaluation.result"
CHOICE = "gen_ai.choice"
# The older per-message events and the role each one implies.
MESSAGE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
KNOWN_EVENTS = {INFERENCE_DETAILS, EVALUATION_RESULT, CHOICE, *MESSAGE_EVENTS}
# Fixed namespace for evaluation score ids: uuid5(namespace, "trace:span:name") is the same on every retry.
SCORE_ID_NAMESPACE = uuid.UUID("6f1c7f0e-5d0b-4c5e-9a43-2f1f3c1d7e21")
_EVALUATION_CONSUMED = {
    "event.name",
    "gen_ai.evaluation.name",
    "gen_ai.evaluation.score.value",
    "gen_ai.evaluation.score.label",
    "gen_ai.evaluation.explanation",
}


class RecordError(Exception):
    """One malformed GenAI record: rejected (counted in partial_success), the rest of the batch goes on."""


@dataclass
class _Conversation:
    """The older per-message events of one span, gathered in arrival order."""

    trace_id: str
    span_id: str
    start: datetime
    input: list[Any] = field(default_factory=list)
    choices: list[tuple[int, Any]] = field(default_factory=list)
    model: Any = None


def event_name(record: LogRecord, attrs: dict[str, Any]) -> str:
    """LogRecord.eventName (field 12), else the `event.name` attribute older emitters set."""
    name = record.event_name or attrs.get("event.name")
    return name if isinstance(name, str) else ""


def _ids(record: LogRecord) -> tuple[str, str] | None:
    """(trace id, span id) in hex; None when the record has no span context; RecordError for bad lengths."""
    trace_raw, span_raw = record.trace_id, record.span_id
    if not any(trace_raw) or not any(span_raw):  # absent or all-zero: no span to attach to
        return None
    if len(trace_raw) != 16:
        raise RecordError(f"record for span {span_raw.hex()}: trace id must be 32 hex characters")
    if len(span_raw) != 8:
        raise RecordError(f"record in trace {trace_raw.hex()}: span id must be 16 hex characters")
    return trace_raw.hex(), span_raw.hex()


def _record_time(record: LogRecord, span_id: str, latest: datetime) -> datetime:
    nanos = record.time_unix_nano or record.observed_time_unix_nano
    if not nanos:
        raise RecordError(f"record for span {span_id}: no time_unix_nano or observed_time_unix_nano")
    moment = time_from_nanos(nanos)
    if not limits.EARLIEST_TIMESTAMP <= moment <= latest:
        raise RecordError(f"record for span {span_id}: time {moment.isoformat()} is outside the accepted window")
    return moment


def _present(value: Any) -> bool:
    return value not in (None, "", [], {})


def _content(record: LogRecord, attrs: dict[str, Any]) -> dict[str, Any]:
    """The record's attributes, plus the keys of a structured body the attributes do not already carry."""
    body = any_value(record.body) if record.HasField("body") else None
    if isinstance(body, dict):
        return {**body, **attrs}
    return attrs


def _details_observation(trace_id: str, span_id: str, start: datetime, attrs: dict[str, Any]) -> ObservationIn:
    """`gen_ai.client.inference.operation.details` → the span's content, nothing the span itself owns."""
    marks = Marks()
    messages = genai_messages(attrs, "gen_ai.input.messages", "gen_ai.system_instructions")
    output = json_loads(attrs.get("gen_ai.output.messages"))
    tools = json_loads(attrs.get("gen_ai.tool.definitions"))
    metadata: dict[str, Any] = {}
    if _present(tools):
        metadata["tool_definitions"] = bound(tools, marks, "tool_definitions")
    observation = ObservationIn(
        id=span_id,
        trace_id=trace_id,
        start_time=start,
        model=text_clean(first_of(attrs, *MODEL_KEYS), 200),
        input=bound(messages, marks, "input") if _present(messages) else None,
        output=bound(output, marks, "output") if _present(output) else None,
        usage=usage(attrs),
    )
    if marks.truncated:
        metadata["truncated"] = {k: (v if v >= 0 else "depth") for k, v in marks.truncated.items()}
    observation.metadata = metadata or None
    return observation


def _text_parts(content: Any) -> list[Any]:
    """A message's `content` (string or list of parts) as `gen_ai.input.messages` parts."""
    if content in (None, ""):
        return []
    if isinstance(content, list):
        return [
            {"type": "text", "content": part["text"]} if isinstance(part, dict) and "text" in part else part
            for part in content
        ]
    return [{"type": "text", "content": content if isinstance(content, str) else json_loads(content)}]


def _tool_call_parts(tool_calls: Any) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for call in tool_calls if isinstance(tool_calls, list) else []:
        if not isinstance(call, dict):
            continue
        function = call.get("function") if isinstance(call.get("function"), dict) else {}
        parts.append(
            {
                "type": "tool_call",
                "id": call.get("id"),
                "name": function.get("name", call.get("name")),
                "arguments": json_loads(function.get("arguments", call.get("arguments"))),
            }
        )
    return parts


def legacy_message(role: str, body: dict[str, Any]) -> dict[str, Any]:
    """One older per-message event body ({content, tool_calls?, id?, role?}) → {role, parts[]}."""
    role = body.get("role") if isinstance(body.get("role"), str) else role
    if role == "tool":
        parts: list[Any] = [{"type": "tool_call_response", "id": body.get("id"), "response": body.get("content")}]
    else:
        parts = _text_parts(body.get("content")) + _tool_call_parts(body.get("tool_calls"))
    return {"role": role, "parts": parts}


def _choice_message(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """A `gen_ai.choice` body ({index, finish_reason, message}) → (index, output message)."""
    message = body.get("message") if isinstance(body.get("message"), dict) else {}
    result = legacy_message("assistant", message)
    if body.get("finish_reason") is not None:
        result["finish_reason"] = body["finish_reason"]
    index = body.get("index")
    return (index if isinstance(index, int) and not isinstance(index, bool) else 0), result


def _conversation_observation(conversation: _Conversation) -> ObservationIn:
    marks = Marks()
    output = [message for _, message in sorted(conversation.choices, key=lambda pair: pair[0])]
    observation = ObservationIn(
        id=conversation.span_id,
        trace_id=conversation.trace_id,
        start_time=conversation.start,
        model=text_clean(conversation.model, 200),
        input=bound(conversation.input, marks, "input") if conversation.input else None,
        output=bound(output, marks, "output") if output else None,
    )
    if marks.truncated:
        observation.metadata = {"truncated": {k: (v if v >= 0 else "depth") for k, v in marks.truncated.items()}}
    return observation


def score_id(trace_id: str, span_id: str, name: str) -> str:
    return str(uuid.uuid5(SCORE_ID_NAMESPACE, f"{trace_id}:{span_id}:{name}"))


def _evaluation_score(trace_id: str, span_id: str, moment: datetime, attrs: dict[str, Any]) -> ScoreIn:
    """`gen_ai.evaluation.result` → a score on the evaluated span (source EVAL)."""
    name = attrs.get("gen_ai.evaluation.name")
    if not isinstance(name, str) or not name.strip():
        raise RecordError(f"evaluation for span {span_id}: gen_ai.evaluation.name is required")
    value = float_or_none(attrs.get("gen_ai.evaluation.score.value"))
    label = text_clean(attrs.get("gen_ai.evaluation.score.label"), 1000)
    if value is None and label is None:
        raise RecordError(
            f"evaluation for span {span_id}: gen_ai.evaluation.score.value (finite) or score.label is required"
        )
    name = text_clean(name.strip(), 500) or ""
    leftovers = {key: v for key, v in attrs.items() if key not in _EVALUATION_CONSUMED}
    return ScoreIn(
        id=score_id(trace_id, span_id, name),
        name=name,
        timestamp=moment,
        value=value,
        string_value=label,
        data_type="NUMERIC" if value is not None else "CATEGORICAL",
        source="EVAL",
        trace_id=trace_id,
        observation_id=span_id,
        comment=text_clean(attrs.get("gen_ai.evaluation.explanation"), limits.MAX_ATTRIBUTE_CHARS),
        metadata=bound(leftovers) or None,
    )


def logs_normalise(request: ExportLogsServiceRequest, *, now: datetime | None = None) -> NormalisedBatch:
    """GenAI event records → observations (content for their span) and scores; others ignored, bad ones counted."""
    latest = (now or datetime.now(UTC)) + limits.MAX_FUTURE
    batch = NormalisedBatch(traces=[], observations=[], scores=[], noun="log record")
    conversations: dict[str, _Conversation] = {}

    for resource_logs in request.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                attrs = attributes(record.attributes)
                name = event_name(record, attrs)
                if name not in KNOWN_EVENTS:
                    batch.ignored += 1
                    continue
                try:
                    ids = _ids(record)
                    if ids is None:
                        batch.ignored += 1
                        continue
                    trace_id, span_id = ids
                    moment = _record_time(record, span_id, latest)
                    content = _content(record, attrs)
                    if name == INFERENCE_DETAILS:
                        batch.observations.append(_details_observation(trace_id, span_id, moment, content))
                    elif name == EVALUATION_RESULT:
                        batch.scores.append(_evaluation_score(trace_id, span_id, moment, content))
                    else:
                        conversation = conversations.get(span_id)
                        if conversation is None:
                            conversation = conversations[span_id] = _Conversation(trace_id, span_id, moment)
                        conversation.start = min(conversation.start, moment)
                        conversation.model = conversation.model or first_of(attrs, *MODEL_KEYS)
                        body = any_value(record.body) if record.HasField("body") else None
                        body = body if isinstance(body, dict) else {"content": body}
                        if name == CHOICE:
                            conversation.choices.append(_choice_message(body))
                        else:
                            conversation.input.append(legacy_message(MESSAGE_EVENTS[name], body))
                except RecordError as exc:
                    batch.rejected += 1
                    batch.errors.append(str(exc))
                except Exception as exc:  # one odd record must not fail the batch
                    log.warning("otlp.log_normalise_failed event=%s error=%r", name, exc)
                    batch.rejected += 1
                    batch.errors.append(f"{name} record could not be read ({type(exc).__name__})")

    batch.observations.extend(_conversation_observation(c) for c in conversations.values())
    log.info(
        "otlp.logs_normalise observations=%d scores=%d rejected=%d ignored=%d",
        len(batch.observations),
        len(batch.scores),
        batch.rejected,
        batch.ignored,
    )
    return batch
