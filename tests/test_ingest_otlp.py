"""OTLP/HTTP traces endpoint: real captured payloads, the real OTel SDK exporters, and bad input."""

from __future__ import annotations

import base64
import copy
import gzip
import json
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.conftest import Tenant
from traces.ingest import limits
from traces.models import Observation, Session, Trace

pytestmark = pytest.mark.django_db
WIRE = Path("/work/shared/reference/otel-wire")
CAPTURES = sorted(p.name for p in WIRE.glob("*-traces-*.json"))
NOW_NS = time.time_ns()
TRACE = "5b8efff798038103d269b633813fc60c"


# --- helpers --------------------------------------------------------------------------------------------


def _hex_to_b64(payload: dict[str, Any]) -> dict[str, Any]:
    payload = copy.deepcopy(payload)
    for rs in payload.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if span.get(key):
                        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    return payload


def to_protobuf(payload: dict[str, Any]) -> bytes:
    message = ExportTraceServiceRequest()
    json_format.ParseDict(_hex_to_b64(payload), message, ignore_unknown_fields=True)
    return message.SerializeToString()


def post(
    client: Client,
    tenant: Tenant | None,
    body: bytes,
    content_type: str = "application/x-protobuf",
    encoding: str | None = None,
    path: str = "/v1/traces",
) -> Any:
    headers: dict[str, str] = {}
    if tenant is not None:
        headers["authorization"] = tenant.basic_auth
    if encoding:
        headers["content-encoding"] = encoding
    return client.post(path, data=body, content_type=content_type, headers=headers)


def attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    if isinstance(value, list):
        return {"key": key, "value": {"arrayValue": {"values": [{"stringValue": v} for v in value]}}}
    return {"key": key, "value": {"stringValue": value}}


def span(
    span_id: str,
    *,
    parent: str | None = None,
    trace_id: str = TRACE,
    name: str = "span",
    attrs: dict[str, Any] | None = None,
    start_ns: int | None = None,
    status: dict[str, Any] | None = None,
) -> dict[str, Any]:
    start = start_ns if start_ns is not None else NOW_NS - 10_000_000_000
    result: dict[str, Any] = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "kind": 1,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 1_000_000_000),
        "attributes": [attr(k, v) for k, v in (attrs or {}).items()],
    }
    if parent:
        result["parentSpanId"] = parent
    if status:
        result["status"] = status
    return result


def request_of(*spans: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [attr("service.name", "tests"), attr("service.version", "1.2.3")]},
                "scopeSpans": [{"scope": {"name": "tests"}, "spans": list(spans)}],
            }
        ]
    }


def response_of(response: Any) -> ExportTraceServiceResponse:
    message = ExportTraceServiceResponse()
    if response["Content-Type"].startswith("application/json"):
        json_format.Parse(response.content.decode(), message)
    else:
        message.ParseFromString(response.content)
    return message


def sid(n: int) -> str:
    return f"{n:016x}"


# --- the captured payloads ------------------------------------------------------------------------------


def _capture_has(request: dict[str, Any], predicate: Any) -> bool:
    return any(predicate(s) for rs in request["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"])


@pytest.mark.parametrize("name", CAPTURES)
def test_captured_payload_is_stored(name: str, acme: Tenant, client: Client) -> None:
    capture = json.loads((WIRE / name).read_text())
    meta, payload = capture["capture"], capture["request"]
    content_type = meta["content_type"]
    body = json.dumps(payload).encode() if content_type == "application/json" else to_protobuf(payload)
    if meta["content_encoding"] == "gzip":
        body = gzip.compress(body)
    response = post(client, acme, body, content_type, meta["content_encoding"], path=meta["path"])
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == content_type
    assert not response_of(response).HasField("partial_success")

    pid = acme.project.pk
    traces = Trace.objects.filter(project_id=pid)
    observations = list(Observation.objects.filter(project_id=pid))
    span_count = sum(len(ss["spans"]) for rs in payload["resourceSpans"] for ss in rs["scopeSpans"])
    assert traces.count() == 2 and len(observations) == span_count
    types = {o.type for o in observations}
    assert {"GENERATION", "TOOL"} <= types
    assert types & {"RETRIEVER", "EMBEDDING"} and types & {"AGENT", "CHAIN"}

    generations = [o for o in observations if o.type == "GENERATION" and o.level != "ERROR" and o.usage]
    assert generations and all(g.model for g in generations)
    first = generations[0]
    assert first.usage["input"] > 0 and first.usage["output"] > 0 and first.input_tokens == first.usage["input"]
    has_content = _capture_has(
        payload,
        lambda s: any(
            a["key"] in ("gen_ai.input.messages", "llm.input_messages.0.message.role") for a in s["attributes"]
        ),
    )
    if has_content:
        assert isinstance(first.input, list) and first.input[0]["role"] in ("system", "user")
        assert first.output
    if _capture_has(payload, lambda s: any("cache_read" in a["key"] for a in s["attributes"])):
        cached = [g for g in generations if g.usage.get("cache_read")]
        assert cached and all(g.usage["input"] + g.usage["cache_read"] <= g.usage["total"] for g in cached)

    errors = [o for o in observations if o.level == "ERROR"]
    assert len(errors) == 1 and "force-error" in errors[0].status_message and errors[0].type == "GENERATION"
    if _capture_has(payload, lambda s: any(e["name"] == "First Token Stream Event" for e in s.get("events", []))):
        streaming = [o for o in observations if o.completion_start_time]
        assert streaming and streaming[0].start_time < streaming[0].completion_start_time <= streaming[0].end_time

    by_id = {o.id: o for o in observations}
    children = [o for o in observations if o.parent_id]
    assert children and all(by_id[o.parent_id].trace_id == o.trace_id for o in children if o.parent_id in by_id)
    roots = [o for o in observations if o.parent_id is None]
    assert len(roots) == 2
    for trace in traces:
        assert trace.name and trace.observation_count >= 1 and trace.environment == "verify"
        assert trace.input is not None or not has_content
    if _capture_has(payload, lambda s: any(a["key"] == "session.id" for a in s["attributes"])):
        assert set(traces.values_list("user_id", flat=True)) == {"user-42"}
        assert all(t.session_id for t in traces) and Session.objects.filter(project_id=pid).exists()
    elif _capture_has(payload, lambda s: any(a["key"] == "gen_ai.conversation.id" for a in s["attributes"])):
        assert traces.exclude(session_id=None).count() == 1
    # The trace totals roll up from the observations.
    agent_trace = traces.get(id=errors[0].trace_id)
    assert agent_trace.error_count == 1 and agent_trace.total_tokens > 0


# --- the real OpenTelemetry SDK -------------------------------------------------------------------------


def _export_with_sdk(exporter: Any) -> None:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import Status, StatusCode

    provider = TracerProvider(
        resource=Resource.create({"service.name": "sdk-test", "deployment.environment.name": "ci"})
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.sdk")
    with tracer.start_as_current_span("invoke_agent helper", attributes={"gen_ai.operation.name": "invoke_agent"}):
        with tracer.start_as_current_span(
            "chat gpt-4o",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.request.temperature": 0.1,
                "gen_ai.usage.input_tokens": 100,
                "gen_ai.usage.output_tokens": 40,
                "gen_ai.usage.cache_read.input_tokens": 30,
                "gen_ai.usage.reasoning.output_tokens": 10,
                "gen_ai.conversation.id": "conv-1",
                "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]),
                "gen_ai.output.messages": json.dumps(
                    [{"role": "assistant", "parts": [{"type": "text", "content": "yo"}]}]
                ),
            },
        ):
            pass
        with tracer.start_as_current_span(
            "execute_tool lookup", attributes={"gen_ai.operation.name": "execute_tool"}
        ) as s:
            s.set_status(Status(StatusCode.ERROR, "tool broke"))
    provider.shutdown()


@pytest.mark.django_db(transaction=True)
def test_real_sdk_protobuf_gzip_exporter(live_server: Any, acme: Tenant) -> None:
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    exporter = OTLPSpanExporter(
        endpoint=f"{live_server.url}/v1/traces",
        headers={"Authorization": acme.basic_auth},
        compression=Compression.Gzip,
    )
    _export_with_sdk(exporter)
    _assert_sdk_rows(acme)


@pytest.mark.django_db(transaction=True)
def test_real_sdk_json_exporter(live_server: Any, acme: Tenant) -> None:
    from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter

    exporter = OTLPSpanExporter(
        endpoint=f"{live_server.url}/api/public/otel/v1/traces", headers={"Authorization": acme.basic_auth}
    )
    _export_with_sdk(exporter)
    _assert_sdk_rows(acme)


def _assert_sdk_rows(tenant: Tenant) -> None:
    pid = tenant.project.pk
    observations = {o.type: o for o in Observation.objects.filter(project_id=pid)}
    assert set(observations) == {"AGENT", "GENERATION", "TOOL"}
    chat = observations["GENERATION"]
    assert chat.model == "gpt-4o-2024-08-06" and chat.model_parameters == {"temperature": 0.1}
    assert chat.usage == {"input": 70, "output": 30, "cache_read": 30, "reasoning": 10, "total": 140}
    assert chat.input[0]["role"] == "user" and chat.output[0]["parts"][0]["content"] == "yo"
    assert chat.parent_id == observations["AGENT"].id
    # No cost was sent: computed from the built-in gpt-4o price when those rows are loaded (never "provided").
    assert chat.cost_source != "provided" and (chat.cost is None or chat.cost_source == "computed")
    assert observations["TOOL"].level == "ERROR" and observations["TOOL"].status_message == "tool broke"
    trace = Trace.objects.get(project_id=pid)
    assert trace.name == "invoke_agent helper" and trace.session_id == "conv-1" and trace.environment == "ci"
    assert trace.observation_count == 3 and trace.error_count == 1


# --- bad input ------------------------------------------------------------------------------------------


def test_malformed_protobuf_is_400(acme: Tenant, client: Client) -> None:
    response = post(client, acme, b"\x0a\xff\xff\xff\xff\x0f garbage")
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request" and "protobuf" in response.json()["message"]


def test_malformed_json_is_400(acme: Tenant, client: Client) -> None:
    response = post(client, acme, b'{"resourceSpans": [', "application/json")
    assert response.status_code == 400 and "JSON" in response.json()["message"]


def test_unsupported_content_type_is_415(acme: Tenant, client: Client) -> None:
    response = post(client, acme, b"hello", "text/plain")
    assert response.status_code == 415 and response.json()["error"] == "unsupported_media_type"


def test_body_over_limit_is_413(acme: Tenant, client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_BODY_BYTES", 1000)
    response = post(client, acme, b"\x00" * 5000)
    assert response.status_code == 413 and response.json()["error"] == "payload_too_large"


def test_gzip_bomb_is_413_quickly(acme: Tenant, client: Client) -> None:
    bomb = gzip.compress(b"\x00" * (60 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 200_000
    started = time.monotonic()
    response = post(client, acme, bomb, encoding="gzip")
    assert response.status_code == 413 and "Decompressed" in response.json()["message"]
    assert time.monotonic() - started < 10


def test_deflate_body_is_accepted(acme: Tenant, client: Client) -> None:
    body = zlib.compress(to_protobuf(request_of(span(sid(1), name="root"))))
    assert post(client, acme, body, encoding="deflate").status_code == 200
    assert Observation.objects.filter(project_id=acme.project.pk).count() == 1


def test_bad_span_id_in_json_batch_rejects_only_that_span(acme: Tenant, client: Client) -> None:
    payload = request_of(span(sid(1), name="good"), span("not-hex-at-all!!", name="bad"))
    response = post(client, acme, json.dumps(payload).encode(), "application/json")
    assert response.status_code == 200
    result = response_of(response)
    assert result.partial_success.rejected_spans == 1 and "span id" in result.partial_success.error_message
    assert list(Observation.objects.filter(project_id=acme.project.pk).values_list("name", flat=True)) == ["good"]


def test_nul_characters_are_escaped(acme: Tenant, client: Client) -> None:
    payload = request_of(
        span(sid(1), name="nu\u0000l", attrs={"input.value": "a\u0000b", "user.id": "u\u0000", "x": "\u0000"})
    )
    response = post(client, acme, json.dumps(payload).encode(), "application/json")
    assert response.status_code == 200, response.content
    obs = Observation.objects.get(project_id=acme.project.pk)
    assert obs.name == "nu\\u0000l" and obs.input == "a\\u0000b" and obs.metadata["attributes"]["x"] == "\\u0000"
    assert Trace.objects.get(project_id=acme.project.pk).user_id == "u\\u0000"


def test_invalid_utf8_in_protobuf_is_replaced(acme: Tenant, client: Client) -> None:
    body = to_protobuf(request_of(span(sid(1), name="caf\u00e9XX")))
    body = body.replace("\u00e9XX".encode(), b"\xff\xfeXX")
    response = post(client, acme, body)
    assert response.status_code == 200, response.content
    assert Observation.objects.get(project_id=acme.project.pk).name == "caf\ufffd\ufffdXX"


def test_deeply_nested_json_attribute_is_bounded(acme: Tenant, client: Client) -> None:
    deep = "[" * 500 + "]" * 500
    payload = request_of(
        span(sid(1), attrs={"input.value": deep, "input.mime_type": "application/json", "metadata": deep})
    )
    response = post(client, acme, to_protobuf(payload))
    assert response.status_code == 200, response.content
    obs = Observation.objects.get(project_id=acme.project.pk)
    depth, node = 0, obs.input
    while isinstance(node, list) and node:
        node, depth = node[0], depth + 1
    assert depth <= limits.MAX_JSON_DEPTH and isinstance(node, str) and "nested deeper" in node
    assert "input" in obs.metadata["truncated"]


def test_huge_attribute_is_truncated_with_marker(acme: Tenant, client: Client) -> None:
    payload = request_of(span(sid(1), attrs={"output.value": "x" * 1_000_000}))
    assert post(client, acme, to_protobuf(payload)).status_code == 200
    obs = Observation.objects.get(project_id=acme.project.pk)
    cut = obs.metadata["truncated"]["output.value"]
    assert len(obs.output) <= limits.MAX_ATTRIBUTE_CHARS and cut > 1_000_000 - limits.MAX_ATTRIBUTE_CHARS
    assert obs.output == "x" * (1_000_000 - cut) + f"…[truncated {cut} chars]"


def test_span_from_1970_is_rejected(acme: Tenant, client: Client) -> None:
    payload = request_of(span(sid(1), name="ok"), span(sid(2), name="old", start_ns=1_000_000_000))
    response = post(client, acme, to_protobuf(payload))
    assert response.status_code == 200
    result = response_of(response)
    assert result.partial_success.rejected_spans == 1 and "window" in result.partial_success.error_message
    assert list(Observation.objects.filter(project_id=acme.project.pk).values_list("name", flat=True)) == ["ok"]


def test_wrong_key_is_401(acme: Tenant, client: Client) -> None:
    bad = "Basic " + base64.b64encode(f"{acme.public_key}:sk-wrong".encode()).decode()
    body = to_protobuf(request_of(span(sid(1))))
    response = client.post(
        "/v1/traces", data=body, content_type="application/x-protobuf", headers={"authorization": bad}
    )
    assert response.status_code == 401 and response.json()["error"] == "unauthorized"
    assert post(client, None, body).status_code == 401
    assert not Observation.objects.exists()


def test_rows_land_in_the_keys_own_project(acme: Tenant, globex: Tenant, client: Client) -> None:
    assert post(client, globex, to_protobuf(request_of(span(sid(1), name="root")))).status_code == 200
    assert not Trace.objects.filter(project_id=acme.project.pk).exists()
    assert Trace.objects.get(project_id=globex.project.pk).id == TRACE


def test_same_batch_twice_gives_the_same_rows(acme: Tenant, client: Client) -> None:
    body = to_protobuf(
        request_of(
            span(sid(1), name="root"),
            span(sid(2), parent=sid(1), attrs={"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 5}),
        )
    )

    def snapshot() -> list[tuple]:
        pid = acme.project.pk
        return list(
            Trace.objects.filter(project_id=pid).values_list("id", "name", "total_tokens", "observation_count")
        ) + list(
            Observation.objects.filter(project_id=pid).order_by("id").values_list("id", "type", "usage", "parent_id")
        )

    assert post(client, acme, body).status_code == 200
    first = snapshot()
    assert post(client, acme, body).status_code == 200
    assert snapshot() == first and first[0][2:] == (5, 2)


def test_children_first_then_root_in_a_later_request(acme: Tenant, client: Client) -> None:
    start = NOW_NS - 60_000_000_000
    child = span(
        sid(2),
        parent=sid(1),
        start_ns=start + 5_000_000_000,
        attrs={"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 7, "gen_ai.usage.output_tokens": 3},
    )
    assert post(client, acme, to_protobuf(request_of(child))).status_code == 200
    trace = Trace.objects.get(project_id=acme.project.pk)
    assert trace.name is None and trace.observation_count == 1
    root = span(sid(1), name="the-root", start_ns=start, attrs={"input.value": "question"})
    root["endTimeUnixNano"] = str(start + 20_000_000_000)
    assert post(client, acme, to_protobuf(request_of(root))).status_code == 200
    trace = Trace.objects.get(project_id=acme.project.pk)
    assert trace.name == "the-root" and trace.input == "question"
    assert trace.observation_count == 2 and trace.total_tokens == 10 and trace.latency_ms == 20_000


def test_statement_count_does_not_grow_with_spans(acme: Tenant, client: Client) -> None:
    def batch(n: int, trace_base: int) -> bytes:
        spans = []
        for i in range(n):
            trace_id = f"{trace_base + i // 10:032x}"
            spans.append(
                span(
                    sid(trace_base * 1000 + i + 1),
                    trace_id=trace_id,
                    parent=None if i % 10 == 0 else sid(trace_base * 1000 + i - i % 10 + 1),
                    name=f"s{i}",
                )
            )
        return to_protobuf(request_of(*spans))

    assert post(client, acme, batch(1, 10_000)).status_code == 200  # warm-up: key lookup cache, last-used stamp
    counts = []
    for n, base in ((10, 1), (300, 1000)):
        with CaptureQueriesContext(connection) as queries:
            assert post(client, acme, batch(n, base)).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
    assert Observation.objects.filter(project_id=acme.project.pk).count() == 311
