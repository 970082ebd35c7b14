"""OTLP spans → the neutral model (TraceIn / ObservationIn), per reference/otel-conventions.md §4 and the
Langfuse OTLP mapping (reference/langfuse-api.md §1.3, §2.2).

Conventions understood: Langfuse `langfuse.*` (wins), OpenInference (`openinference.span.kind`, `llm.*`,
`input.value`…), OpenTelemetry GenAI (`gen_ai.*`). Every value is bounded here (named limits): long strings
cut with a marker, deep JSON stringified, NUL characters escaped, non-finite floats stringified, so nothing
that reaches PostgreSQL can be refused by text or jsonb.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from traces.ingest import limits
from traces.models import ObservationType
from traces.services import ObservationIn, ScoreIn, TraceIn

log = logging.getLogger(__name__)

NUL_ESCAPE = "\\u0000"
MAX_COST_USD = 1e7  # below the cost columns' numeric(20, 12) range

# Langfuse's observation type names ("generation", "tool", …) → our types.
LANGFUSE_TYPES = {value.lower(): value for value in ObservationType.values}
_OPENINFERENCE_TYPES = {
    "LLM": "GENERATION",
    "CHAIN": "CHAIN",
    "RETRIEVER": "RETRIEVER",
    "RERANKER": "RETRIEVER",
    "EMBEDDING": "EMBEDDING",
    "TOOL": "TOOL",
    "AGENT": "AGENT",
    "GUARDRAIL": "GUARDRAIL",
    "EVALUATOR": "EVALUATOR",
}
_GENAI_TYPES = {
    "chat": "GENERATION",
    "text_completion": "GENERATION",
    "generate_content": "GENERATION",
    "completion": "GENERATION",
    "generate": "GENERATION",
    "embeddings": "EMBEDDING",
    "retrieval": "RETRIEVER",
    "execute_tool": "TOOL",
    "invoke_agent": "AGENT",
    "create_agent": "AGENT",
    "invoke_workflow": "CHAIN",
}
MODEL_KEYS = (
    "langfuse.observation.model.name",
    "gen_ai.response.model",
    "gen_ai.request.model",
    "llm.response.model_name",
    "llm.model_name",
    "llm.request.model_name",
    "embedding.model_name",
    "reranker.model_name",
)
_SPAN_KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
# Keys that flatten a list: everything under them is rebuilt into a list and not kept again in metadata.
_FLATTENED_PREFIXES = (
    "llm.input_messages.",
    "llm.output_messages.",
    "llm.prompts.",
    "llm.choices.",
    "retrieval.documents.",
    "embedding.embeddings.",
    "llm.tools.",
)
# Wrapper segments OpenInference puts after a list index ("llm.input_messages.0.message.role").
_WRAPPERS = {"message", "tool_call", "message_content", "document", "embedding", "tool", "prompt", "completion"}
_ENVIRONMENT = re.compile(r"^[a-z0-9_-]{1,40}$")


# --- bounded values -------------------------------------------------------------------------------------


@dataclass
class Marks:
    """What was cut while reading one span's values, recorded in its metadata."""

    truncated: dict[str, int] = field(default_factory=dict)


def clean_text(value: str, marks: Marks | None = None, key: str = "") -> str:
    """NUL escaped, unencodable code points replaced, cut at MAX_ATTRIBUTE_CHARS with a marker."""
    if "\x00" in value:
        value = value.replace("\x00", NUL_ESCAPE)
    if not value.isascii():  # only non-ASCII text can hold lone surrogates that UTF-8 cannot encode
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "replace").decode("utf-8")
    if len(value) > limits.MAX_ATTRIBUTE_CHARS:
        # Marker included, the result is at most MAX_ATTRIBUTE_CHARS long (so a second pass leaves it alone); the
        # marker counts the cut, which may have a digit fewer than the length it was sized for.
        keep = limits.MAX_ATTRIBUTE_CHARS - len(limits.truncation_marker(len(value)))
        cut = len(value) - keep
        value = value[:keep] + limits.truncation_marker(cut)
        if marks is not None:
            marks.truncated[key or "value"] = cut
    return value


_ORJSON_STRICT = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS


def _already_bounded(value: dict[Any, Any] | list[Any]) -> bool:
    """True when a container provably needs no change, judged from one C-speed serialisation: orjson refuses
    lone surrogates, non-string keys, integers over 64 bits and other types; the whole text within the
    string limit bounds every string in it; fewer brackets than the depth limit bound the depth; NUL
    characters and non-finite floats (which orjson writes as null) show in the text."""
    try:
        text = orjson.dumps(value, option=_ORJSON_STRICT)
    except (TypeError, orjson.JSONEncodeError):
        return False
    return (
        len(text) <= limits.MAX_ATTRIBUTE_CHARS
        and text.count(b"[") + text.count(b"{") <= limits.MAX_JSON_DEPTH
        and b"\\u0000" not in text
        and b"null" not in text
    )


def bound(value: Any, marks: Marks | None = None, key: str = "", depth: int = 0) -> Any:
    """Makes a decoded value safe for jsonb: bounded depth and string sizes, no NUL, finite numbers."""
    if isinstance(value, str):
        return clean_text(value, marks, key)
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if depth == 0 and type(value) in (dict, list) and _already_bounded(value):
        return value  # the common case: the walk below would rebuild the same value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth >= limits.MAX_JSON_DEPTH:
        if marks is not None:
            marks.truncated[key or "value"] = -1
        try:
            text = json.dumps(value, default=str)
        except (RecursionError, ValueError):
            text = "…"
        return clean_text(f"…[nested deeper than {limits.MAX_JSON_DEPTH}] " + text[:1000], marks, key)
    if isinstance(value, dict):
        return {clean_text(str(k)): bound(v, marks, key, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [bound(v, marks, key, depth + 1) for v in value]
    return clean_text(str(value), marks, key)


def any_value(value: AnyValue, depth: int = 0) -> Any:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if depth >= limits.MAX_JSON_DEPTH:
        return f"…[nested deeper than {limits.MAX_JSON_DEPTH}]"
    if kind == "array_value":
        return [any_value(v, depth + 1) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value, depth + 1) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return None


class Attributes(dict[str, Any]):
    """A span's or record's attributes. Groups the keys of OpenInference's flattened lists by prefix on
    first use, so the several `unflatten` calls per span read their keys instead of scanning them all."""

    _groups: dict[str, list[tuple[str, Any]]] | None = None

    def with_prefix(self, prefix: str) -> list[tuple[str, Any]]:
        if self._groups is None:
            groups: dict[str, list[tuple[str, Any]]] = {}
            for key, value in self.items():
                if key.startswith(_FLATTENED_PREFIXES):
                    for known in _FLATTENED_PREFIXES:
                        if key.startswith(known):
                            groups.setdefault(known, []).append((key, value))
                            break
            self._groups = groups
        return self._groups.get(prefix, [])


def attributes(items: Iterable[KeyValue]) -> Attributes:
    return Attributes((kv.key, any_value(kv.value)) for kv in items)


def json_loads(text: Any) -> Any:
    """A JSON string decoded, else the value itself (also when it is too deep for the parser)."""
    if not isinstance(text, str):
        return text
    stripped = text.strip()
    if not stripped or (
        stripped[0] not in '[{"' and stripped not in ("true", "false", "null") and not _is_number(stripped)
    ):
        return text
    try:
        return orjson.loads(stripped)
    except orjson.JSONDecodeError:  # also for nesting deeper than orjson's limit
        return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def first_of(attrs: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        value = attrs.get(key)
        if value not in (None, "", [], {}):
            return value
    return None


def int_or_none(value: Any) -> int | None:
    """An integer that fits a bigint column, else None."""
    if value is None or isinstance(value, bool):  # None first: most probed keys are absent
        return None
    try:
        number = value if isinstance(value, int) else int(float(value))
    except (TypeError, ValueError, OverflowError):
        return None
    return number if abs(number) < 2**62 else None


def float_or_none(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def cost_value(value: Any) -> float | None:
    """A USD amount that fits the cost columns (numeric(20, 12)), else None."""
    number = float_or_none(value)
    return number if number is not None and 0 <= number < MAX_COST_USD else None


def text_clean(value: Any, max_chars: int = 1000) -> str | None:
    if value in (None, ""):
        return None
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return clean_text(text)[:max_chars]


def time_from_nanos(nanos: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=nanos // 1000)


def iso_time(value: Any) -> datetime | None:
    value = json_loads(value)
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- unflattening OpenInference lists -------------------------------------------------------------------


def unflatten(attrs: dict[str, Any], prefix: str) -> list[Any] | None:
    """`prefix.N.wrapper.a.b` keys → [{a: {b: …}}, …]; lists nest (tool_calls.K.tool_call.…)."""
    root: dict[str, Any] = {}
    if isinstance(attrs, Attributes) and prefix in _FLATTENED_PREFIXES:
        items = attrs.with_prefix(prefix)
    else:
        items = [(key, value) for key, value in attrs.items() if key.startswith(prefix)]
    if not items:
        return None
    for key, value in items:
        parts = key[len(prefix) :].split(".")
        node = root
        previous_numeric = True  # the prefix ends in a list
        path: list[str] = []
        for part in parts:
            if previous_numeric and part in _WRAPPERS and not part.isdigit():
                previous_numeric = False
                continue
            path.append(part)
            previous_numeric = part.isdigit()
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        if path:
            node[path[-1]] = value
    result = _listify(root)
    return result if isinstance(result, list) else [result]


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(k.isdigit() for k in node):
        return [_listify(node[k]) for k in sorted(node, key=int)]
    return {k: _listify(v) for k, v in node.items()}


# --- per-span mapping -----------------------------------------------------------------------------------


def observation_type(attrs: dict[str, Any]) -> str:
    langfuse = attrs.get("langfuse.observation.type")
    if isinstance(langfuse, str) and langfuse.lower() in LANGFUSE_TYPES:
        return LANGFUSE_TYPES[langfuse.lower()]
    kind = attrs.get("openinference.span.kind")
    if isinstance(kind, str) and kind.upper() in _OPENINFERENCE_TYPES:
        return _OPENINFERENCE_TYPES[kind.upper()]
    operation = attrs.get("gen_ai.operation.name")
    if isinstance(operation, str) and operation.lower() in _GENAI_TYPES:
        return _GENAI_TYPES[operation.lower()]
    if first_of(attrs, "gen_ai.tool.name", "gen_ai.tool.call.id"):
        return "TOOL"
    if first_of(attrs, *MODEL_KEYS):
        return "GENERATION"
    return "SPAN"


def _model_parameters(attrs: dict[str, Any]) -> dict[str, Any] | None:
    params: dict[str, Any] = {}
    for key, value in attrs.items():
        if key.startswith("gen_ai.request.") and key != "gen_ai.request.model":
            params[key.removeprefix("gen_ai.request.")] = value
    if "gen_ai.output.type" in attrs:
        params["output_type"] = attrs["gen_ai.output.type"]
    for key in (
        "embedding.invocation_parameters",
        "llm.invocation_parameters",
        "langfuse.observation.model.parameters",
    ):
        decoded = json_loads(attrs.get(key))
        if isinstance(decoded, dict):
            params.update(decoded)
    params.pop("model", None)
    return params or None


def genai_messages(attrs: dict[str, Any], key: str, system_key: str | None = None) -> Any:
    messages = json_loads(attrs.get(key))
    if system_key:
        system = json_loads(attrs.get(system_key))
        if system not in (None, "", []):
            parts = system if isinstance(system, list) else [{"type": "text", "content": system}]
            head = [{"role": "system", "parts": parts}]
            messages = head + (messages if isinstance(messages, list) else [] if messages is None else [messages])
    return messages


def _openinference_value(attrs: dict[str, Any], key: str) -> Any:
    value = attrs.get(f"{key}.value")
    if value is None:
        return None
    mime = attrs.get(f"{key}.mime_type")
    if mime == "application/json" or (mime is None and isinstance(value, str) and value[:1] in "[{"):
        return json_loads(value)
    return value


def _input(attrs: dict[str, Any], obs_type: str) -> Any:
    if "langfuse.observation.input" in attrs:
        return json_loads(attrs["langfuse.observation.input"])
    messages = genai_messages(attrs, "gen_ai.input.messages", "gen_ai.system_instructions")
    if messages not in (None, "", []):
        return messages
    if "gen_ai.tool.call.arguments" in attrs:
        return json_loads(attrs["gen_ai.tool.call.arguments"])
    if "gen_ai.retrieval.query.text" in attrs:
        return attrs["gen_ai.retrieval.query.text"]
    flattened = unflatten(attrs, "llm.input_messages.") or unflatten(attrs, "llm.prompts.")
    if flattened:
        return flattened
    if obs_type == "EMBEDDING":
        embeddings = unflatten(attrs, "embedding.embeddings.")
        texts = [e.get("text") for e in embeddings or [] if isinstance(e, dict) and "text" in e]
        if texts and "input.value" not in attrs:
            return texts
    return _openinference_value(attrs, "input")


def _output(attrs: dict[str, Any], obs_type: str) -> Any:
    if "langfuse.observation.output" in attrs:
        return json_loads(attrs["langfuse.observation.output"])
    messages = json_loads(attrs.get("gen_ai.output.messages"))
    if messages not in (None, "", []):
        return messages
    if "gen_ai.tool.call.result" in attrs:
        return json_loads(attrs["gen_ai.tool.call.result"])
    if "gen_ai.retrieval.documents" in attrs:
        return json_loads(attrs["gen_ai.retrieval.documents"])
    flattened = unflatten(attrs, "llm.output_messages.") or unflatten(attrs, "llm.choices.")
    if flattened:
        return flattened
    documents = unflatten(attrs, "retrieval.documents.")
    if documents:
        for document in documents:
            if isinstance(document, dict) and "metadata" in document:
                document["metadata"] = json_loads(document["metadata"])
        return documents
    return _openinference_value(attrs, "output")


def usage_key(key: str) -> str:
    lowered = key.lower()
    if "cache_read" in lowered or "cached" in lowered:
        return "cache_read"
    if "cache_creation" in lowered or "cache_write" in lowered:
        return "cache_write"
    if "reasoning" in lowered:
        return "reasoning"
    if lowered in ("input", "prompt", "prompt_tokens", "input_tokens"):
        return "input"
    if lowered in ("output", "completion", "completion_tokens", "output_tokens"):
        return "output"
    if lowered in ("total", "total_tokens"):
        return "total"
    return lowered


def usage_details(provided: dict[str, Any]) -> dict[str, int] | None:
    """A client-provided usage map (Langfuse `usageDetails`): integer values under normalised keys."""
    result: dict[str, int] = {}
    for key, value in provided.items():
        number = int_or_none(value)
        if number is not None:
            name = usage_key(str(key))
            result[name] = result.get(name, 0) + number
    return result or None


def usage(attrs: dict[str, Any]) -> dict[str, int] | None:
    """{input, output, total, cache_read, cache_write, reasoning}: input excludes cached tokens and output
    excludes reasoning tokens, so no token is priced twice."""
    provided = json_loads(attrs.get("langfuse.observation.usage_details"))
    if isinstance(provided, dict) and provided:
        return usage_details(provided)

    def number(*keys: str) -> int | None:
        for key in keys:
            value = int_or_none(attrs.get(key))
            if value is not None:
                return value
        return None

    gross_input = number("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt")
    gross_output = number("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion")
    cache_read = number("gen_ai.usage.cache_read.input_tokens", "llm.token_count.prompt_details.cache_read")
    cache_write = number(
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_write.input_tokens",
        "llm.token_count.prompt_details.cache_write",
    )
    reasoning = number("gen_ai.usage.reasoning.output_tokens", "llm.token_count.completion_details.reasoning")
    total = number("llm.token_count.total", "gen_ai.usage.total_tokens")
    if gross_input is None and gross_output is None and total is None:
        return None
    result: dict[str, int] = {}
    if gross_input is not None:
        result["input"] = max(gross_input - (cache_read or 0) - (cache_write or 0), 0)
    if gross_output is not None:
        result["output"] = max(gross_output - (reasoning or 0), 0)
    for name, value in (("cache_read", cache_read), ("cache_write", cache_write), ("reasoning", reasoning)):
        if value:
            result[name] = value
    if total is None:
        total = (gross_input or 0) + (gross_output or 0)
    result["total"] = total
    return result


_OPENINFERENCE_COSTS = {
    "llm.cost.prompt_details.input": "input",
    "llm.cost.completion_details.output": "output",
    "llm.cost.prompt_details.cache_read": "cache_read",
    "llm.cost.prompt_details.cache_write": "cache_write",
    "llm.cost.completion_details.reasoning": "reasoning",
    "llm.cost.total": "total",
}


def cost_details(provided: dict[str, Any]) -> dict[str, float] | None:
    """A client-provided cost map (Langfuse `costDetails`, USD) under normalised keys; bad amounts dropped."""
    result: dict[str, float] = {}
    for key, value in provided.items():
        number = cost_value(value)
        if number is not None:
            result[usage_key(str(key))] = number
    return result or None


def cost(attrs: dict[str, Any]) -> dict[str, float] | None:
    """Costs the client provided (USD); None when it sent none (computed later from prices, never invented)."""
    provided = json_loads(attrs.get("langfuse.observation.cost_details"))
    if isinstance(provided, dict):
        details = cost_details(provided)
        if details:
            return details
    result: dict[str, float] = {}
    for key, name in _OPENINFERENCE_COSTS.items():
        number = cost_value(attrs.get(key))
        if number is not None:
            result[name] = number
    prompt, completion = cost_value(attrs.get("llm.cost.prompt")), cost_value(attrs.get("llm.cost.completion"))
    if prompt is not None and "input" not in result:
        result["input"] = max(prompt - result.get("cache_read", 0.0) - result.get("cache_write", 0.0), 0.0)
    if completion is not None and "output" not in result:
        result["output"] = max(completion - result.get("reasoning", 0.0), 0.0)
    genai_total = cost_value(attrs.get("gen_ai.usage.cost"))
    if genai_total is not None and "total" not in result:
        result["total"] = genai_total
    return result or None


def _completion_start(attrs: dict[str, Any], span: Span, start: datetime) -> datetime | None:
    langfuse = iso_time(attrs.get("langfuse.observation.completion_start_time"))
    if langfuse:
        return langfuse
    ttfc = float_or_none(attrs.get("gen_ai.response.time_to_first_chunk"))
    if ttfc is not None and 0 <= ttfc < 86_400:
        return start + timedelta(seconds=ttfc)
    for event in span.events:
        if event.name == "First Token Stream Event" and event.time_unix_nano:
            return time_from_nanos(event.time_unix_nano)
    return None


def _status_message(attrs: dict[str, Any], span: Span) -> str | None:
    message = first_of(attrs, "langfuse.observation.status_message") or span.status.message or None
    if not message:
        for event in span.events:
            if event.name == "exception":
                event_attrs = attributes(event.attributes)
                message = first_of(event_attrs, "exception.message", "exception.type")
                if message:
                    break
    if not message and span.status.code == 2:
        message = first_of(attrs, "error.type")
    return text_clean(message, limits.MAX_ATTRIBUTE_CHARS)


def _metadata_blob(attrs: dict[str, Any], blob_key: str) -> dict[str, Any]:
    """`<blob_key>` (JSON or value) plus `<blob_key>.<k>` keys, each JSON-decoded (Langfuse v5 encodes them)."""
    result: dict[str, Any] = {}
    blob = json_loads(attrs.get(blob_key))
    if isinstance(blob, dict):
        result.update(blob)
    elif blob not in (None, ""):
        result["metadata"] = blob
    prefix = blob_key + "."
    for key, value in attrs.items():
        if key.startswith(prefix):
            result[key[len(prefix) :]] = json_loads(value)
    return result


_CONSUMED = {
    "langfuse.observation.type",
    "langfuse.observation.input",
    "langfuse.observation.output",
    "langfuse.observation.level",
    "langfuse.observation.status_message",
    "langfuse.observation.model.name",
    "langfuse.observation.model.parameters",
    "langfuse.observation.usage_details",
    "langfuse.observation.cost_details",
    "langfuse.observation.completion_start_time",
    "langfuse.observation.prompt.name",
    "langfuse.observation.prompt.version",
    "langfuse.observation.metadata",
    "langfuse.trace.name",
    "langfuse.trace.input",
    "langfuse.trace.output",
    "langfuse.trace.tags",
    "langfuse.trace.public",
    "langfuse.trace.metadata",
    "langfuse.user.id",
    "langfuse.session.id",
    "langfuse.environment",
    "langfuse.release",
    "langfuse.version",
    "langfuse.internal.as_root",
    "user.id",
    "session.id",
    "tag.tags",
    "metadata",
    "input.value",
    "input.mime_type",
    "output.value",
    "output.mime_type",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "gen_ai.retrieval.query.text",
    "gen_ai.retrieval.documents",
    "llm.invocation_parameters",
    "embedding.invocation_parameters",
    "gen_ai.response.time_to_first_chunk",
}


def _is_consumed(key: str) -> bool:
    if key in _CONSUMED:
        return True
    return key.startswith(
        (
            "langfuse.observation.metadata.",
            "langfuse.trace.metadata.",
            "gen_ai.request.",
            "gen_ai.usage.",
            "llm.token_count.",
            "llm.cost.",
            *_FLATTENED_PREFIXES,
        )
    )


def _observation_metadata(attrs: dict[str, Any], span: Span, scope: Any, model: str | None) -> dict[str, Any]:
    metadata = _metadata_blob(attrs, "langfuse.observation.metadata")
    openinference = json_loads(attrs.get("metadata"))
    if isinstance(openinference, dict):
        metadata.update(openinference)
    elif openinference not in (None, ""):
        metadata["metadata"] = openinference
    # Everything not mapped to a column stays here (experiment/dataset linkage, provider, ids, finish reasons…).
    leftovers = {key: value for key, value in attrs.items() if not _is_consumed(key)}
    tools = unflatten(attrs, "llm.tools.")
    if tools:
        leftovers["llm.tools"] = [json_loads(t.get("json_schema")) if isinstance(t, dict) else t for t in tools]
    vectors = unflatten(attrs, "embedding.embeddings.")
    if vectors:
        leftovers["embedding.count"] = len(vectors)
    request_model = first_of(attrs, "gen_ai.request.model", "llm.request.model_name")
    if request_model and request_model != model:
        leftovers["request_model"] = request_model
    if leftovers:
        metadata["attributes"] = leftovers
    if scope is not None and scope.name:
        metadata["scope"] = {"name": scope.name, "version": scope.version} if scope.version else {"name": scope.name}
    metadata["span_kind"] = _SPAN_KINDS.get(span.kind, str(span.kind))
    return metadata


# --- trace-level fields ---------------------------------------------------------------------------------


def _tags(value: Any) -> list[str]:
    value = json_loads(value) if isinstance(value, str) and value.startswith("[") else value
    if isinstance(value, str):
        return [t.strip() for t in value.split(",") if t.strip()]
    if isinstance(value, list):
        return [str(t) for t in value if t not in (None, "")]
    return []


def environment_clean(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    value = value.strip().lower()
    if value.startswith("langfuse"):
        value = value.removeprefix("langfuse").lstrip("-_") or "default"
    return value if _ENVIRONMENT.match(value) else "default"


@dataclass
class _TraceAcc:
    """Trace-level fields gathered from every span of one trace in this request."""

    id: str
    timestamp: datetime
    has_root: bool = False
    has_trace_fields: bool = False
    name: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    input: Any = None
    output: Any = None
    environment: str | None = None
    release: str | None = None
    version: str | None = None
    public: bool | None = None


@dataclass
class NormalisedBatch:
    traces: list[TraceIn]
    observations: list[ObservationIn]
    scores: list[ScoreIn]
    rejected: int = 0
    errors: list[str] = field(default_factory=list)
    ignored: int = 0  # accepted but not stored (log records that are not GenAI events or carry no span)
    noun: str = "span"

    @property
    def error_message(self) -> str:
        if not self.rejected:
            return ""
        shown = "; ".join(self.errors[: limits.MAX_REJECTION_MESSAGES])
        more = len(self.errors) - limits.MAX_REJECTION_MESSAGES
        return f"{self.rejected} {self.noun}(s) rejected: {shown}" + (f"; and {more} more" if more > 0 else "")


_PROMPT_TYPES = frozenset({"GENERATION", "EMBEDDING"})


def _is_root(span: Span, attrs: dict[str, Any]) -> bool:
    return not span.parent_span_id or attrs.get("langfuse.internal.as_root") in (True, "true", "True")


def _valid_id(raw: bytes, length: int) -> bool:
    return len(raw) == length and any(raw)


def spans_normalise(request: ExportTraceServiceRequest, *, now: datetime | None = None) -> NormalisedBatch:
    """Every span → one ObservationIn; every trace seen → one TraceIn; bad spans counted, not fatal."""
    now = now or datetime.now(UTC)
    latest = now + limits.MAX_FUTURE
    observations: list[ObservationIn] = []
    accs: dict[str, _TraceAcc] = {}
    rejected = 0
    errors: list[str] = []

    def reject(reason: str) -> None:
        nonlocal rejected
        rejected += 1
        errors.append(reason)

    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        resource_environment = environment_clean(
            first_of(resource, "langfuse.environment", "deployment.environment.name", "deployment.environment")
        )
        resource_release = first_of(resource, "langfuse.release", "service.version")
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope
            for span in scope_spans.spans:
                if not _valid_id(span.trace_id, 16):
                    reject(f"span {span.span_id.hex() or '?'}: trace id must be 32 hex characters, not zero")
                    continue
                if not _valid_id(span.span_id, 8):
                    reject(f"trace {span.trace_id.hex()}: span id must be 16 hex characters, not zero")
                    continue
                if span.parent_span_id and len(span.parent_span_id) != 8:
                    reject(f"span {span.span_id.hex()}: parent span id must be 16 hex characters")
                    continue
                start = time_from_nanos(span.start_time_unix_nano)
                if not limits.EARLIEST_TIMESTAMP <= start <= latest:
                    reject(f"span {span.span_id.hex()}: start time {start.isoformat()} is outside the accepted window")
                    continue
                try:
                    observations.append(
                        _observation(span, scope, resource, resource_environment, resource_release, start, accs)
                    )
                except Exception as exc:  # one odd span must not fail the batch
                    log.warning("otlp.span_normalise_failed span=%s error=%r", span.span_id.hex(), exc)
                    reject(f"span {span.span_id.hex()}: could not be read ({type(exc).__name__})")

    traces = [
        TraceIn(
            id=acc.id,
            timestamp=acc.timestamp,
            name=acc.name,
            user_id=acc.user_id,
            session_id=acc.session_id,
            tags=sorted(set(acc.tags)),
            metadata=bound(acc.metadata) or None,
            input=bound(acc.input),
            output=bound(acc.output),
            environment=acc.environment,
            release=acc.release,
            version=acc.version,
            public=acc.public,
        )
        for acc in accs.values()
        # A trace without its root here and without trace-level attributes is left to the write step's
        # placeholder, so a late child never moves an existing trace's timestamp.
        if acc.has_root or acc.has_trace_fields
    ]
    log.info("otlp.spans_normalise observations=%d traces=%d rejected=%d", len(observations), len(traces), rejected)
    return NormalisedBatch(traces=traces, observations=observations, scores=[], rejected=rejected, errors=errors)


def _observation(
    span: Span,
    scope: Any,
    resource: dict[str, Any],
    resource_environment: str | None,
    resource_release: Any,
    start: datetime,
    accs: dict[str, _TraceAcc],
) -> ObservationIn:
    marks = Marks()
    attrs = Attributes()
    for kv in span.attributes:
        value = any_value(kv.value)
        attrs[kv.key] = clean_text(value, marks, kv.key) if isinstance(value, str) else value
    trace_id = span.trace_id.hex()
    span_id = span.span_id.hex()
    obs_type = observation_type(attrs)
    model = first_of(attrs, *MODEL_KEYS)
    end = time_from_nanos(span.end_time_unix_nano) if span.end_time_unix_nano else None
    level = attrs.get("langfuse.observation.level")
    if not (isinstance(level, str) and level.upper() in ("DEBUG", "DEFAULT", "WARNING", "ERROR")):
        level = "ERROR" if span.status.code == 2 else "DEFAULT"
    # A span arrives whole, so "no environment" means the default one (and the write step can take its
    # one-probe path for whole rows).
    environment = environment_clean(attrs.get("langfuse.environment")) or resource_environment or "default"
    name = span.name
    if obs_type == "TOOL":
        name = first_of(attrs, "gen_ai.tool.name", "tool.name") or name
    is_root = _is_root(span, attrs)
    prompt_version = int_or_none(attrs.get("langfuse.observation.prompt.version"))
    # v5's propagate_attributes(prompt=…) puts the prompt on every span in its context; upstream links it to
    # generation-like observations only.
    prompt_name = attrs.get("langfuse.observation.prompt.name") if obs_type in _PROMPT_TYPES else None
    prompt_version = prompt_version if prompt_name else None
    metadata = _observation_metadata(attrs, span, scope, model)
    obs_input = _input(attrs, obs_type)
    obs_output = _output(attrs, obs_type)
    obs_cost = cost(attrs)
    observation = ObservationIn(
        id=span_id,
        trace_id=trace_id,
        parent_id=None if is_root or not span.parent_span_id else span.parent_span_id.hex(),
        type=obs_type,
        name=text_clean(name),
        start_time=start,
        end_time=end if end is None or end >= start else start,
        completion_start_time=_completion_start(attrs, span, start),
        level=level.upper(),
        status_message=_status_message(attrs, span),
        model=text_clean(model, 200),
        model_parameters=bound(_model_parameters(attrs), marks, "model_parameters"),
        input=bound(obs_input, marks, "input"),
        output=bound(obs_output, marks, "output"),
        metadata=None,
        usage=usage(attrs),
        cost=obs_cost,
        cost_source="provided" if obs_cost else None,
        prompt_name=text_clean(prompt_name, 500),
        prompt_version=prompt_version if prompt_version is not None and -(2**31) < prompt_version < 2**31 else None,
        environment=environment,
        version=text_clean(attrs.get("langfuse.version"), 200),
    )
    if is_root and span.parent_span_id:
        metadata["as_root_parent_span_id"] = span.parent_span_id.hex()
    metadata = bound(metadata, marks, "metadata")
    if marks.truncated:
        metadata["truncated"] = {k: (v if v >= 0 else "depth") for k, v in marks.truncated.items()}
    observation.metadata = metadata

    acc = accs.get(trace_id)
    if acc is None:
        acc = accs[trace_id] = _TraceAcc(id=trace_id, timestamp=start)
    _gather_trace_fields(acc, attrs, resource, environment, resource_release, span, start, is_root, observation)
    return observation


def _gather_trace_fields(
    acc: _TraceAcc,
    attrs: dict[str, Any],
    resource: dict[str, Any],
    environment: str | None,
    resource_release: Any,
    span: Span,
    start: datetime,
    is_root: bool,
    observation: ObservationIn,
) -> None:
    trace_name = first_of(attrs, "langfuse.trace.name")
    if is_root:
        acc.has_root = True
        acc.timestamp = start
        acc.name = text_clean(trace_name or span.name)
        acc.input = json_loads(attrs["langfuse.trace.input"]) if "langfuse.trace.input" in attrs else observation.input
        acc.output = (
            json_loads(attrs["langfuse.trace.output"]) if "langfuse.trace.output" in attrs else observation.output
        )
    else:
        if not acc.has_root:
            acc.timestamp = min(acc.timestamp, start)
        if trace_name and not acc.name:
            acc.name = text_clean(trace_name)
        for key in ("langfuse.trace.input", "langfuse.trace.output"):
            if key in attrs:
                acc.has_trace_fields = True
                setattr(acc, key.rsplit(".", 1)[1], json_loads(attrs[key]))
    if trace_name:
        acc.has_trace_fields = True
    user_id = first_of(attrs, "langfuse.user.id", "user.id", "enduser.id")
    if user_id and not acc.user_id:
        acc.user_id = text_clean(user_id)
        acc.has_trace_fields = True
    session_id = first_of(attrs, "langfuse.session.id", "session.id", "gen_ai.conversation.id")
    if session_id and not acc.session_id:
        acc.session_id = text_clean(session_id)
        acc.has_trace_fields = True
    for key in ("langfuse.trace.tags", "langfuse.tags", "tag.tags"):
        tags = _tags(attrs.get(key))
        if tags:
            acc.tags.extend(clean_text(t)[:200] for t in tags)
            acc.has_trace_fields = True
    trace_metadata = _metadata_blob(attrs, "langfuse.trace.metadata")
    openinference = json_loads(attrs.get("metadata"))
    if isinstance(openinference, dict):
        trace_metadata = {**openinference, **trace_metadata}
    if trace_metadata:
        acc.metadata.update(trace_metadata)
        acc.has_trace_fields = True
    if resource and "resource" not in acc.metadata:
        acc.metadata["resource"] = resource
    if environment and not acc.environment:
        acc.environment = environment
    release = first_of(attrs, "langfuse.release") or resource_release
    if release and not acc.release:
        acc.release = text_clean(release, 200)
    version = first_of(attrs, "langfuse.version")
    if version and (is_root or not acc.version):
        acc.version = text_clean(version, 200)
    public = attrs.get("langfuse.trace.public")
    if isinstance(public, bool):
        acc.public = public
        acc.has_trace_fields = True
