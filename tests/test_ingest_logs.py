"""OTLP/HTTP logs endpoint: GenAI events attach their content to their span, whichever arrives first."""

from __future__ import annotations

import base64
import copy
import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

from tests.conftest import Tenant
from tests.test_ingest_otlp import NOW_NS, TRACE, attr, post, request_of, sid, span, to_protobuf
from traces.ingest import limits
from traces.ingest.logs import score_id
from traces.models import Observation, Score, Trace

pytestmark = pytest.mark.django_db
WIRE = Path("/work/shared/reference/otel-wire")
SPANS_07 = json.loads((WIRE / "genai-openai-v2-events-07-traces-protobuf.json").read_text())["request"]
LOGS_08 = json.loads((WIRE / "genai-openai-v2-events-08-logs-protobuf.json").read_text())["request"]
CONTENT_KEYS = {"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions"}
DETAILS = "gen_ai.client.inference.operation.details"
IGNORED_COLUMNS = {"created_at", "updated_at", "project_id", "project"}


# --- helpers --------------------------------------------------------------------------------------------


def at(nanos: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=nanos // 1000)


def logs_to_protobuf(payload: dict[str, Any]) -> bytes:
    payload = copy.deepcopy(payload)
    for rl in payload.get("resourceLogs", []):
        for sl in rl.get("scopeLogs", []):
            for record in sl.get("logRecords", []):
                for key in ("traceId", "spanId"):
                    if record.get(key):
                        record[key] = base64.b64encode(bytes.fromhex(record[key])).decode()
    message = ExportLogsServiceRequest()
    json_format.ParseDict(payload, message, ignore_unknown_fields=True)
    return message.SerializeToString()


def post_logs(
    client: Client,
    tenant: Tenant | None,
    body: bytes,
    content_type: str = "application/x-protobuf",
    encoding: str | None = None,
    path: str = "/v1/logs",
) -> Any:
    return post(client, tenant, body, content_type, encoding, path=path)


def logs_response_of(response: Any) -> ExportLogsServiceResponse:
    message = ExportLogsServiceResponse()
    if response["Content-Type"].startswith("application/json"):
        json_format.Parse(response.content.decode(), message)
    else:
        message.ParseFromString(response.content)
    return message


def record(
    event: str | None,
    *,
    span_id: str | None = None,
    trace_id: str | None = TRACE,
    attrs: dict[str, Any] | None = None,
    body: dict[str, Any] | None = None,
    time_ns: int | None = None,
    event_attribute: bool = False,
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "timeUnixNano": str(time_ns if time_ns is not None else NOW_NS - 9_000_000_000),
        "attributes": [attr(k, v) for k, v in (attrs or {}).items()],
    }
    if event and event_attribute:
        result["attributes"].append(attr("event.name", event))
    elif event:
        result["eventName"] = event
    if trace_id:
        result["traceId"] = trace_id
    if span_id:
        result["spanId"] = span_id
    if body is not None:
        result["body"] = body
    return result


def logs_of(*records: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceLogs": [
            {
                "resource": {"attributes": [attr("service.name", "tests")]},
                "scopeLogs": [{"scope": {"name": "tests"}, "logRecords": list(records)}],
            }
        ]
    }


def kv(value: Any) -> dict[str, Any]:
    """A plain value as an OTLP AnyValue (kvlist / array / scalar)."""
    if isinstance(value, dict):
        return {"kvlistValue": {"values": [{"key": k, "value": kv(v)} for k, v in value.items()]}}
    if isinstance(value, list):
        return {"arrayValue": {"values": [kv(v) for v in value]}}
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    return {"stringValue": value}


def without_content(payload: dict[str, Any]) -> dict[str, Any]:
    """Capture 07 as `EVENT_ONLY` content would send it: the spans without message attributes."""
    payload = copy.deepcopy(payload)
    for rs in payload["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for s in ss["spans"]:
                s["attributes"] = [a for a in s["attributes"] if a["key"] not in CONTENT_KEYS]
    return payload


def observation_rows(tenant: Tenant) -> list[dict[str, Any]]:
    rows = Observation.objects.filter(project_id=tenant.project.pk).order_by("id").values()
    return [{k: v for k, v in row.items() if k not in IGNORED_COLUMNS} for row in rows]


def trace_rows(tenant: Tenant) -> list[dict[str, Any]]:
    rows = Trace.objects.filter(project_id=tenant.project.pk).order_by("id").values()
    return [{k: v for k, v in row.items() if k not in IGNORED_COLUMNS} for row in rows]


def send_capture(client: Client, tenant: Tenant, signal: str, spans: dict[str, Any]) -> None:
    if signal == "logs":
        response = post_logs(client, tenant, logs_to_protobuf(LOGS_08))
        assert not logs_response_of(response).HasField("partial_success")
    else:
        response = post(client, tenant, to_protobuf(spans))
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/x-protobuf"


# --- the captured payloads ------------------------------------------------------------------------------


@pytest.mark.parametrize("spans", [SPANS_07, without_content(SPANS_07)], ids=["span-and-event", "event-only"])
def test_capture_either_order_gives_the_same_rows(
    spans: dict[str, Any], acme: Tenant, globex: Tenant, client: Client
) -> None:
    for signal in ("logs", "traces"):
        send_capture(client, acme, signal, spans)
    for signal in ("traces", "logs"):
        send_capture(client, globex, signal, spans)

    logs_first, traces_first = observation_rows(acme), observation_rows(globex)
    assert logs_first == traces_first
    assert trace_rows(acme) == trace_rows(globex)

    captured = {s["spanId"]: s for rs in spans["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]}
    assert len(logs_first) == len(captured)
    event_spans = {r["spanId"] for rl in LOGS_08["resourceLogs"] for sl in rl["scopeLogs"] for r in sl["logRecords"]}
    for row in logs_first:
        source = captured[row["id"]]
        assert row["start_time"] == at(int(source["startTimeUnixNano"]))
        if row["id"] in event_spans:
            assert row["name"] == source["name"]  # the span's own fields are kept
            assert row["type"] == "GENERATION" and row["model"]
            assert isinstance(row["input"], list) and row["input"][0]["role"] in ("system", "user")
            if row["level"] != "ERROR":
                assert row["output"][0]["role"] == "assistant" and row["output"][0]["parts"]
                assert row["usage"]["input"] > 0 and row["input_tokens"] == row["usage"]["input"]
    first_chat = next(r for r in logs_first if r["id"] == "58247ff97dea9d88")
    assert first_chat["input"][0] == {
        "role": "system",
        "parts": [{"type": "text", "content": "You are a weather assistant."}],
    }
    tool_call = first_chat["output"][0]["parts"][0]
    assert tool_call["type"] == "tool_call" and tool_call["arguments"] == {"location": "Paris", "unit": "celsius"}


def test_logs_alone_make_a_placeholder_the_spans_complete(acme: Tenant, client: Client) -> None:
    send_capture(client, acme, "logs", SPANS_07)
    rows = {r["id"]: r for r in observation_rows(acme)}
    assert len(rows) == 4 and all(r["type"] == "SPAN" and r["name"] is None for r in rows.values())
    assert all(r["input"] for r in rows.values()) and Trace.objects.filter(project_id=acme.project.pk).count() == 2
    send_capture(client, acme, "traces", without_content(SPANS_07))
    row = next(r for r in observation_rows(acme) if r["id"] == "f59f508abb5f7eb3")
    assert (
        row["type"] == "GENERATION" and row["name"] == "chat gpt-4o-mini" and row["input"] == rows[row["id"]]["input"]
    )


def test_json_body_on_the_langfuse_path(acme: Tenant, client: Client) -> None:
    response = post_logs(
        client, acme, json.dumps(LOGS_08).encode(), "application/json", path="/api/public/otel/v1/logs"
    )
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert not logs_response_of(response).HasField("partial_success")
    assert Observation.objects.filter(project_id=acme.project.pk).filter(input__isnull=False).count() == 4


def test_gzip_body(acme: Tenant, client: Client) -> None:
    response = post_logs(client, acme, gzip.compress(logs_to_protobuf(LOGS_08)), encoding="gzip")
    assert response.status_code == 200
    assert Observation.objects.filter(project_id=acme.project.pk).count() == 4


# --- hand-made records ----------------------------------------------------------------------------------


def test_evaluation_result_becomes_a_score_once(acme: Tenant, client: Client) -> None:
    evaluation = record(
        "gen_ai.evaluation.result",
        span_id=sid(7),
        attrs={
            "gen_ai.evaluation.name": "relevance",
            "gen_ai.evaluation.score.value": 0.75,
            "gen_ai.evaluation.score.label": "relevant",
            "gen_ai.evaluation.explanation": "Answers the question.",
            "gen_ai.response.id": "chatcmpl-1",
        },
    )
    body = logs_to_protobuf(logs_of(evaluation))
    for _ in range(2):  # a retry must not add a second score
        response = post_logs(client, acme, body)
        assert response.status_code == 200 and not logs_response_of(response).HasField("partial_success")
    score = Score.objects.get(project_id=acme.project.pk)
    assert score.id == score_id(TRACE, sid(7), "relevance")
    assert (score.name, score.value, score.string_value, score.comment) == (
        "relevance",
        0.75,
        "relevant",
        "Answers the question.",
    )
    assert (score.source, score.data_type, score.trace_id, score.observation_id) == ("EVAL", "NUMERIC", TRACE, sid(7))
    assert score.metadata == {"gen_ai.response.id": "chatcmpl-1"}
    assert not Observation.objects.exists()


def test_ignored_and_rejected_records(acme: Tenant, client: Client) -> None:
    details = DETAILS
    records = [
        record("app.log", span_id=sid(1)),  # not a GenAI event: ignored
        record(None, span_id=sid(1), body={"stringValue": "plain log line"}),  # no event name: ignored
        record(details, trace_id=None, attrs={"gen_ai.request.model": "m"}),  # no span context: ignored
        record(details, span_id=sid(2), attrs={"gen_ai.request.model": "m"}, event_attribute=True),  # stored
        record(details, span_id=sid(3), time_ns=1_000),  # 1970: rejected
        record("gen_ai.evaluation.result", span_id=sid(4), attrs={"gen_ai.evaluation.score.value": 1}),  # no name
    ]
    bad_span = record(details, span_id=sid(5))
    payload = logs_of(*records, bad_span)
    payload["resourceLogs"][0]["scopeLogs"][0]["logRecords"][-1]["spanId"] = "abcd"  # wrong length
    response = post_logs(client, acme, json.dumps(payload).encode(), "application/json")
    assert response.status_code == 200, response.content
    partial = logs_response_of(response).partial_success
    assert partial.rejected_log_records == 3
    assert "window" in partial.error_message and "gen_ai.evaluation.name" in partial.error_message
    assert "span id" in partial.error_message
    assert list(Observation.objects.filter(project_id=acme.project.pk).values_list("id", "model")) == [(sid(2), "m")]
    assert not Score.objects.exists()


def test_older_per_message_events_are_grouped_per_span(acme: Tenant, client: Client) -> None:
    t = NOW_NS - 8_000_000_000
    tool_call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
    }
    records = [
        record("gen_ai.system.message", span_id=sid(1), body=kv({"content": "Be brief."}), time_ns=t),
        record("gen_ai.user.message", span_id=sid(1), body=kv({"content": "Weather?"}), time_ns=t),
        record("gen_ai.assistant.message", span_id=sid(1), body=kv({"tool_calls": [tool_call]}), time_ns=t),
        record("gen_ai.tool.message", span_id=sid(1), body=kv({"content": "sunny", "id": "call_1"}), time_ns=t),
        record(
            "gen_ai.choice",
            span_id=sid(1),
            body=kv({"index": 1, "finish_reason": "stop", "message": {"content": "Second."}}),
            time_ns=t + 1,
        ),
        record(
            "gen_ai.choice",
            span_id=sid(1),
            body=kv({"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Sunny."}}),
            time_ns=t + 1,
            event_attribute=True,
        ),
    ]
    assert post_logs(client, acme, logs_to_protobuf(logs_of(*records))).status_code == 200
    spans = request_of(span(sid(1), name="chat m", attrs={"gen_ai.operation.name": "chat"}, start_ns=t - 5))
    assert post(client, acme, to_protobuf(spans)).status_code == 200
    observation = Observation.objects.get(project_id=acme.project.pk)
    assert observation.type == "GENERATION" and observation.name == "chat m"
    assert observation.start_time == at(t - 5)
    assert observation.input == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Weather?"}]},
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "sunny"}]},
    ]
    assert observation.output == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Sunny."}], "finish_reason": "stop"},
        {"role": "assistant", "parts": [{"type": "text", "content": "Second."}], "finish_reason": "stop"},
    ]


def test_tool_definitions_and_system_instructions(acme: Tenant, client: Client) -> None:
    tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]
    details = record(
        "gen_ai.client.inference.operation.details",
        span_id=sid(1),
        attrs={"gen_ai.request.model": "m", "gen_ai.usage.input_tokens": 3, "gen_ai.usage.output_tokens": 2},
    )
    details["attributes"] += [
        {"key": "gen_ai.tool.definitions", "value": kv(tools)},
        {"key": "gen_ai.system_instructions", "value": kv([{"type": "text", "content": "Be brief."}])},
        {"key": "gen_ai.input.messages", "value": kv([{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}])},
    ]
    assert post_logs(client, acme, logs_to_protobuf(logs_of(details))).status_code == 200
    observation = Observation.objects.get(project_id=acme.project.pk)
    assert observation.metadata == {"tool_definitions": tools}
    assert [m["role"] for m in observation.input] == ["system", "user"] and observation.output is None
    assert observation.usage == {"input": 3, "output": 2, "total": 5} and observation.model == "m"


# --- bad requests ---------------------------------------------------------------------------------------


def test_malformed_protobuf_is_400(acme: Tenant, client: Client) -> None:
    response = post_logs(client, acme, b"\x0a\xff\xff\xff\xff\x0f garbage")
    assert response.status_code == 400 and "ExportLogsServiceRequest" in response.json()["message"]


def test_unsupported_content_type_is_415(acme: Tenant, client: Client) -> None:
    assert post_logs(client, acme, b"hello", "text/plain").status_code == 415


def test_too_many_records_is_413(acme: Tenant, client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_LOG_RECORDS_PER_REQUEST", 3)
    response = post_logs(client, acme, logs_to_protobuf(LOGS_08))
    assert response.status_code == 413 and "4 log records" in response.json()["message"]


def test_invalid_utf8_in_protobuf_is_replaced(acme: Tenant, client: Client) -> None:
    body = logs_to_protobuf(logs_of(record(DETAILS, span_id=sid(1), attrs={"gen_ai.request.model": "XXXX"})))
    response = post_logs(client, acme, body.replace(b"XXXX", b"\xff\xfeok"))
    assert response.status_code == 200, response.content
    assert Observation.objects.get(project_id=acme.project.pk).model == "\ufffd\ufffdok"


def test_wrong_key_is_401(acme: Tenant, client: Client) -> None:
    bad = "Basic " + base64.b64encode(f"{acme.public_key}:sk-wrong".encode()).decode()
    body = logs_to_protobuf(LOGS_08)
    response = client.post("/v1/logs", data=body, content_type="application/x-protobuf", headers={"authorization": bad})
    assert response.status_code == 401 and response.json()["error"] == "unauthorized"
    assert post_logs(client, None, body).status_code == 401
    assert not Observation.objects.exists()


def test_statement_count_does_not_grow_with_records(acme: Tenant, client: Client) -> None:
    def batch(n: int, base: int) -> bytes:
        records = []
        for i in range(n):
            trace_id = f"{base + i // 10:032x}"
            span_id = sid(base * 1000 + i + 1)
            if i % 3 == 0:
                attrs = {"gen_ai.request.model": "m", "gen_ai.usage.input_tokens": 1}
                records.append(record(DETAILS, span_id=span_id, trace_id=trace_id, attrs=attrs))
            elif i % 3 == 1:
                attrs = {"gen_ai.evaluation.name": f"e{i}", "gen_ai.evaluation.score.value": 1}
                records.append(record("gen_ai.evaluation.result", span_id=span_id, trace_id=trace_id, attrs=attrs))
            else:
                records.append(record("gen_ai.user.message", span_id=span_id, trace_id=trace_id, body=kv({"c": "hi"})))
        return logs_to_protobuf(logs_of(*records))

    assert post_logs(client, acme, batch(1, 10_000)).status_code == 200  # warm-up: key lookup cache, last-used stamp
    counts = []
    for n, base in ((10, 1), (200, 1000)):
        with CaptureQueriesContext(connection) as queries:
            assert post_logs(client, acme, batch(n, base)).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
    assert Score.objects.filter(project_id=acme.project.pk).count() == 3 + 67
