"""OTLP/HTTP: read the body under the size limits, decompress it, parse it into ExportTraceServiceRequest
(or ExportLogsServiceRequest for `/v1/logs`).

Steps (each logs one event): `body_read` (wire bytes, capped), `body_decompress` (streamed with a cap, so a
gzip bomb is refused after at most MAX_DECOMPRESSED_BYTES of output), `request_parse` / `logs_request_parse`
(protobuf or OTLP/JSON into the same message type, so normalisation has one path). Both signals share one
parser, described by a `_Signal`.
"""

from __future__ import annotations

import base64
import json
import logging
import zlib
from dataclasses import dataclass
from typing import IO, Any

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from traces.ingest import limits

log = logging.getLogger(__name__)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_CONTENT_TYPES = {"application/x-protobuf": PROTOBUF, "application/protobuf": PROTOBUF, "application/json": JSON}
_READ_CHUNK = 256 * 1024


class IngestError(Exception):
    """A whole-request failure with its HTTP status (400, 413, 415)."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def content_type_of(header: str | None) -> str:
    """The request's body format, or 415."""
    media = (header or "").split(";", 1)[0].strip().lower()
    kind = _CONTENT_TYPES.get(media)
    if kind is None:
        raise IngestError(
            415, f"Unsupported Content-Type {media or '(none)'!r}: send application/x-protobuf or application/json."
        )
    return kind


def body_read(stream: IO[bytes], *, content_length: int | None) -> bytes:
    """Reads at most MAX_BODY_BYTES from the request stream (never request.body, which has Django's 2.5 MB cap)."""
    if content_length is not None and content_length > limits.MAX_BODY_BYTES:
        raise IngestError(413, f"Body of {content_length} bytes is over the {limits.MAX_BODY_BYTES}-byte limit.")
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = stream.read(_READ_CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if size > limits.MAX_BODY_BYTES:
            raise IngestError(413, f"Body is over the {limits.MAX_BODY_BYTES}-byte limit.")
        chunks.append(chunk)
    body = b"".join(chunks)
    log.debug("otlp.body_read bytes=%d", len(body))
    return body


def _inflate(body: bytes, wbits: int) -> bytes:
    decoder = zlib.decompressobj(wbits)
    out: list[bytes] = []
    total = 0
    data = body
    while True:
        room = limits.MAX_DECOMPRESSED_BYTES + 1 - total
        chunk = decoder.decompress(data, min(limits.DECOMPRESS_CHUNK_BYTES, room))
        total += len(chunk)
        if total > limits.MAX_DECOMPRESSED_BYTES:
            raise IngestError(413, f"Decompressed body is over the {limits.MAX_DECOMPRESSED_BYTES}-byte limit.")
        out.append(chunk)
        data = decoder.unconsumed_tail
        if decoder.eof or (not data and not chunk):
            break
    if not decoder.eof:
        raise IngestError(400, "Compressed body is truncated.")
    return b"".join(out)


def body_decompress(body: bytes, *, encoding: str | None) -> bytes:
    """Undoes Content-Encoding gzip/deflate with a streamed cap on the output size."""
    encoding = (encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    try:
        if encoding in ("gzip", "x-gzip"):
            result = _inflate(body, 16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            try:
                result = _inflate(body, 32 + zlib.MAX_WBITS)  # zlib-wrapped (RFC 1950), as HTTP means it
            except zlib.error:
                result = _inflate(body, -zlib.MAX_WBITS)  # some clients send raw deflate
        else:
            raise IngestError(415, f"Unsupported Content-Encoding {encoding!r}: send gzip, deflate or none.")
    except zlib.error as exc:
        raise IngestError(400, f"Body is not valid {encoding} data: {exc}.") from exc
    log.debug("otlp.body_decompress encoding=%s bytes=%d", encoding, len(result))
    return result


# --- protobuf -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Signal:
    """What differs between the traces and logs exports: message types, JSON item path, id keys, limit."""

    request: type[Message]
    items_path: tuple[str, str, str]  # OTLP/JSON keys: ("resourceSpans", "scopeSpans", "spans")
    fields_path: tuple[str, str, str]  # the same as protobuf field names
    ids_required: tuple[str, ...]  # id keys every item has (a bad or missing one is marked bad)
    ids_optional: tuple[str, ...]  # id keys that may be absent or empty
    max_items_limit: str  # the name in `limits`, read per request (tests may lower it)
    noun: str

    @property
    def label(self) -> str:
        return self.request.DESCRIPTOR.name


TRACES = _Signal(
    ExportTraceServiceRequest,
    ("resourceSpans", "scopeSpans", "spans"),
    ("resource_spans", "scope_spans", "spans"),
    ("traceId", "spanId"),
    ("parentSpanId",),
    "MAX_SPANS_PER_REQUEST",
    "spans",
)
LOGS = _Signal(
    ExportLogsServiceRequest,
    ("resourceLogs", "scopeLogs", "logRecords"),
    ("resource_logs", "scope_logs", "log_records"),
    (),
    ("traceId", "spanId"),
    "MAX_LOG_RECORDS_PER_REQUEST",
    "log records",
)


def _lenient_request_class(request_class: type[Message]) -> type[Message]:
    """`request_class` with every string field declared as bytes (same wire format), so a body with
    invalid UTF-8 still parses; its strings are then decoded with replacement characters."""
    pool = descriptor_pool.DescriptorPool()
    seen: set[str] = set()

    def add(file_descriptor: Any) -> None:
        if file_descriptor.name in seen:
            return
        for dependency in file_descriptor.dependencies:
            add(dependency)
        proto = descriptor_pb2.FileDescriptorProto()
        file_descriptor.CopyToProto(proto)

        def relax(messages: Any) -> None:
            for message_proto in messages:
                for field in message_proto.field:
                    if field.type == descriptor_pb2.FieldDescriptorProto.TYPE_STRING:
                        field.type = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
                relax(message_proto.nested_type)

        relax(proto.message_type)
        pool.Add(proto)
        seen.add(file_descriptor.name)

    add(request_class.DESCRIPTOR.file)
    descriptor = pool.FindMessageTypeByName(request_class.DESCRIPTOR.full_name)
    return message_factory.GetMessageClass(descriptor)


_lenient_classes: dict[str, type[Message]] = {}


def _is_repeated(field: Any) -> bool:
    repeated = getattr(field, "is_repeated", None)  # protobuf ≥ 6 has no `label`
    return bool(repeated) if repeated is not None else field.label == field.LABEL_REPEATED


def _copy_replacing(src: Message, dst: Message) -> None:
    """Copies a lenient message into the real type, decoding bytes-for-string fields with U+FFFD."""
    for field, value in src.ListFields():
        target_field = dst.DESCRIPTOR.fields_by_name[field.name]
        is_string = target_field.type == target_field.TYPE_STRING
        if field.type == field.TYPE_MESSAGE:
            if _is_repeated(field):
                container = getattr(dst, field.name)
                for item in value:
                    _copy_replacing(item, container.add())
            else:
                _copy_replacing(value, getattr(dst, field.name))
        elif _is_repeated(field):
            items = [v.decode("utf-8", "replace") for v in value] if is_string else list(value)
            getattr(dst, field.name).extend(items)
        else:
            setattr(dst, field.name, value.decode("utf-8", "replace") if is_string else value)


def _parse_protobuf(body: bytes, signal: _Signal) -> Message:
    request = signal.request()
    try:
        request.ParseFromString(body)
        return request
    except DecodeError as exc:
        if "UTF-8" not in str(exc):
            raise IngestError(400, f"Body is not a valid OTLP protobuf {signal.label}: {exc}") from exc
    # Invalid UTF-8 in a string: parse leniently and replace the bad bytes.
    full_name = signal.request.DESCRIPTOR.full_name
    if full_name not in _lenient_classes:
        _lenient_classes[full_name] = _lenient_request_class(signal.request)
    lenient = _lenient_classes[full_name]()
    try:
        lenient.ParseFromString(body)
    except DecodeError as exc:
        raise IngestError(400, f"Body is not a valid OTLP protobuf {signal.label}: {exc}") from exc
    request = signal.request()
    _copy_replacing(lenient, request)
    return request


# --- OTLP/JSON ------------------------------------------------------------------------------------------

_ID_LENGTHS = {"traceId": 16, "spanId": 8, "parentSpanId": 8}
# An id that is not valid hex of the right length becomes this one byte: normalisation rejects the span
# (counted in partial_success) instead of failing the whole request.
_BAD_ID = base64.b64encode(b"\xff").decode()


def _hex_id_to_base64(value: Any, key: str, optional: bool = False) -> str:
    if value in (None, "") and optional:
        return ""
    if not isinstance(value, str) or len(value) != 2 * _ID_LENGTHS[key]:
        return _BAD_ID
    try:
        return base64.b64encode(bytes.fromhex(value)).decode()
    except ValueError:
        return _BAD_ID


def _ids_hex_to_base64(payload: Any, signal: _Signal = TRACES) -> None:
    """OTLP/JSON spells trace and span ids in hex; protobuf's JSON mapping wants base64 for bytes."""
    resources_key, scopes_key, items_key = signal.items_path
    if not isinstance(payload, dict):
        raise IngestError(400, f"OTLP/JSON body must be an object with {resources_key}.")
    for resource in payload.get(resources_key) or []:
        if not isinstance(resource, dict):
            continue
        for scope in resource.get(scopes_key) or []:
            if not isinstance(scope, dict):
                continue
            for item in scope.get(items_key) or []:
                if not isinstance(item, dict):
                    continue
                for key in signal.ids_required:
                    item[key] = _hex_id_to_base64(item.get(key), key)
                for key in signal.ids_optional:
                    if key in item:
                        item[key] = _hex_id_to_base64(item[key], key, optional=True)
                for link in item.get("links") or []:
                    if isinstance(link, dict):
                        link.pop("traceId", None)
                        link.pop("spanId", None)


def _clean_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, list):
        return [_clean_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_clean_surrogates(k): _clean_surrogates(v) for k, v in value.items()}
    return value


def _parse_json(body: bytes, signal: _Signal) -> Message:
    try:
        payload = json.loads(body.decode("utf-8", "replace"))
    except RecursionError as exc:
        raise IngestError(400, "OTLP/JSON body is nested too deeply.") from exc
    except ValueError as exc:
        raise IngestError(400, f"Body is not valid JSON: {exc}") from exc
    _ids_hex_to_base64(payload, signal)
    request = signal.request()
    try:
        json_format.ParseDict(
            payload, request, ignore_unknown_fields=True, max_recursion_depth=limits.MAX_BODY_JSON_DEPTH
        )
    except json_format.ParseError as exc:
        if "surrogate" not in str(exc):
            raise IngestError(400, f"Body is not a valid OTLP/JSON {signal.label}: {exc}") from exc
        request = signal.request()
        try:
            json_format.ParseDict(
                _clean_surrogates(payload),
                request,
                ignore_unknown_fields=True,
                max_recursion_depth=limits.MAX_BODY_JSON_DEPTH,
            )
        except json_format.ParseError as exc2:
            raise IngestError(400, f"Body is not a valid OTLP/JSON {signal.label}: {exc2}") from exc2
    except RecursionError as exc:
        raise IngestError(400, "OTLP/JSON body is nested too deeply.") from exc
    return request


def _request_parse(body: bytes, content_type: str, signal: _Signal) -> tuple[Message, int]:
    """Body bytes → the signal's export request and its item count; 400 malformed, 413 too many items."""
    request = _parse_protobuf(body, signal) if content_type == PROTOBUF else _parse_json(body, signal)
    resources_field, scopes_field, items_field = signal.fields_path
    count = sum(
        len(getattr(scope, items_field))
        for resource in getattr(request, resources_field)
        for scope in getattr(resource, scopes_field)
    )
    max_items = getattr(limits, signal.max_items_limit)
    if count > max_items:
        raise IngestError(413, f"{count} {signal.noun} in one request; the limit is {max_items}.")
    log.info("otlp.request_parse content_type=%s bytes=%d %s=%d", content_type, len(body), signal.noun, count)
    return request, count


def request_parse(body: bytes, *, content_type: str) -> ExportTraceServiceRequest:
    """Body bytes → ExportTraceServiceRequest, whichever encoding was sent; 400 for a malformed body."""
    request, _ = _request_parse(body, content_type, TRACES)
    return request  # type: ignore[return-value]


def logs_request_parse(body: bytes, *, content_type: str) -> ExportLogsServiceRequest:
    """Body bytes → ExportLogsServiceRequest, whichever encoding was sent; 400 for a malformed body."""
    request, _ = _request_parse(body, content_type, LOGS)
    return request  # type: ignore[return-value]


def _response_encode(response: Message, content_type: str) -> bytes:
    if content_type == PROTOBUF:
        return response.SerializeToString()
    return json_format.MessageToJson(response, indent=None).encode()


def response_encode(*, content_type: str, rejected_spans: int, error_message: str) -> bytes:
    """An ExportTraceServiceResponse in the request's encoding; partial_success only when something was cut."""
    response = ExportTraceServiceResponse()
    if rejected_spans or error_message:
        response.partial_success.rejected_spans = rejected_spans
        response.partial_success.error_message = error_message
    return _response_encode(response, content_type)


def logs_response_encode(*, content_type: str, rejected_records: int, error_message: str) -> bytes:
    """An ExportLogsServiceResponse in the request's encoding; partial_success only when something was cut."""
    response = ExportLogsServiceResponse()
    if rejected_records or error_message:
        response.partial_success.rejected_log_records = rejected_records
        response.partial_success.error_message = error_message
    return _response_encode(response, content_type)
