"""Langfuse REST ingestion (`POST /api/public/ingestion`) and scores (`POST /api/public/scores`): captured
SDK requests replayed, the real Langfuse Python SDK v4, and bad input."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.conftest import Tenant
from traces.ingest import limits
from traces.models import Observation, Score, Session, Trace

pytestmark = pytest.mark.django_db
WIRE = Path("/work/shared/reference/langfuse-wire")
INGESTION = "/api/public/ingestion"
SCORES = "/api/public/scores"
# Captured headers the test client sets itself (or that name the capture server).
_TRANSPORT_HEADERS = {"authorization", "host", "content-length", "connection", "accept-encoding", "content-type"}
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)


def iso(seconds: float = 0) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def event(event_type: str, body: dict[str, Any], seconds: float = 0, event_id: str | None = None) -> dict[str, Any]:
    return {"id": event_id or uuid.uuid4().hex, "type": event_type, "timestamp": iso(seconds), "body": body}


def post(
    client: Client,
    tenant: Tenant | None,
    payload: Any,
    path: str = INGESTION,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> Any:
    all_headers = dict(headers or {})
    if tenant is not None:
        all_headers["authorization"] = tenant.basic_auth
    body = raw if raw is not None else json.dumps(payload).encode()
    return client.post(path, data=body, content_type="application/json", headers=all_headers)


def statuses(response: Any) -> tuple[list[str], dict[str, dict[str, Any]]]:
    assert response.status_code == 207, response.content
    data = response.json()
    assert all(s["status"] == 201 for s in data["successes"])
    return [s["id"] for s in data["successes"]], {e["id"]: e for e in data["errors"]}


def captured(name: str) -> dict[str, Any]:
    return json.loads((WIRE / name).read_text())


# --- captured SDK requests ------------------------------------------------------------------------------


def test_captured_v4_ingestion_request_is_stored(acme: Tenant, client: Client) -> None:
    capture = captured("legacy-python-sdk-4.18.0/008_POST_api_public_ingestion.json")
    body = json.dumps(capture["body"]["json"]).encode()
    assert len(body) == capture["body"]["rawLength"]  # the exact bytes the SDK sent
    headers = {k: v for k, v in capture["headers"].items() if k.lower() not in _TRANSPORT_HEADERS}
    response = post(client, acme, None, raw=body, headers=headers)
    assert response.status_code == capture["response"]["status"] == 207
    assert response.json() == capture["response"]["body"]

    scores = {s.id: s for s in Score.objects.filter(project_id=acme.project.pk)}
    assert set(scores) == {"ab77325ec7336541", "866400fe905ff901", "70bf6b436f0fbcdd"}
    numeric = scores["ab77325ec7336541"]
    assert (numeric.name, numeric.value, numeric.string_value, numeric.data_type) == (
        "legacy-trace-score",
        0.5,
        None,
        "NUMERIC",
    )
    assert numeric.trace_id == "627b35292c17fff0bee8b4f71877506a" and numeric.environment == "capture-test"
    assert numeric.source == "API" and numeric.timestamp == datetime(2026, 11, 23, 6, 46, 31, 677543, tzinfo=UTC)
    categorical = scores["866400fe905ff901"]
    assert (categorical.value, categorical.string_value, categorical.data_type) == (None, "good", "CATEGORICAL")
    observed = scores["70bf6b436f0fbcdd"]
    assert observed.observation_id == "be042df888c985c2" and observed.value == 1.0


@pytest.mark.parametrize("name", ["017_POST_api_public_scores.json", "022_POST_api_public_scores.json"])
def test_captured_v5_scores_requests_are_stored(name: str, acme: Tenant, client: Client) -> None:
    capture = captured(name)
    items = capture["body"]["json"]
    body = json.dumps(items).encode()
    headers = {k: v for k, v in capture["headers"].items() if k.lower() not in _TRANSPORT_HEADERS}
    response = post(client, acme, None, path=SCORES, raw=body, headers=headers)
    assert response.status_code == capture["response"]["status"] == 202
    data = response.json()
    assert data["message"] == "Accepted" and len(data["successes"]) == len(items)
    assert "accepted" not in data  # the v5 SDK logs any accepted/rejected reply as a partial failure
    stored = {s.id: s for s in Score.objects.filter(project_id=acme.project.pk)}
    assert set(stored) == {item["id"] for item in items}
    for item in items:
        score = stored[item["id"]]
        assert score.name == item["name"] and score.environment == "capture-test" and score.source == "API"
        assert score.trace_id == item.get("traceId") and score.observation_id == item.get("observationId")
        assert score.session_id == item.get("sessionId") and score.dataset_run_id == item.get("datasetRunId")
        assert score.timestamp == datetime.fromisoformat(item["timestamp"])


def test_captured_v5_scores_field_mapping(acme: Tenant, client: Client) -> None:
    capture = captured("017_POST_api_public_scores.json")
    assert post(client, acme, capture["body"]["json"], path=SCORES).status_code == 202
    stored = {s.id: s for s in Score.objects.filter(project_id=acme.project.pk)}
    boolean = stored["08a3375250e66bf1"]
    assert (boolean.data_type, boolean.value, boolean.string_value, boolean.comment) == (
        "BOOLEAN",
        1.0,
        "True",
        "thumbs up",
    )
    accuracy = stored["capture-score-trace-numeric"]
    assert (accuracy.data_type, accuracy.value, accuracy.metadata) == ("NUMERIC", 0.92, {"judge": "human"})
    tone = stored["capture-score-observation-categorical"]
    assert (tone.data_type, tone.value, tone.string_value) == ("CATEGORICAL", None, "friendly")
    assert stored["b9924768de7ea87c"].data_type == "NUMERIC"  # inferred from the number
    assert stored["capture-score-session"].session_id == "session-capture-1"


def test_captured_single_item_scores_request(acme: Tenant, client: Client) -> None:
    items = captured("024_POST_api_public_scores.json")["body"]["json"]
    response = post(client, acme, items, path=SCORES)
    assert response.json()["successes"] == [{"id": "9716f07fdc987af2", "status": 201}]
    score = Score.objects.get(project_id=acme.project.pk)
    assert score.observation_id == "2d7c09c7e6ab80dc" and score.value == 1.0


# --- the real SDK ---------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_real_langfuse_sdk_v4_scores(live_server: Any, acme: Tenant) -> None:
    from langfuse import Langfuse

    langfuse = Langfuse(
        public_key=acme.public_key, secret_key=acme.secret_key, host=live_server.url, environment="sdk-test"
    )
    try:
        langfuse.create_score(
            name="helpfulness", value=0.75, trace_id="a" * 32, score_id="sdk-numeric", comment="from the sdk"
        )
        langfuse.create_score(
            name="tone", value="calm", trace_id="a" * 32, observation_id="b" * 16, data_type="CATEGORICAL"
        )
        langfuse.create_score(name="thumbs", value=1, session_id="sess-sdk", data_type="BOOLEAN", score_id="sdk-bool")
        langfuse.flush()
    finally:
        langfuse.shutdown()
    scores = {s.name: s for s in Score.objects.filter(project_id=acme.project.pk)}
    assert set(scores) == {"helpfulness", "tone", "thumbs"}
    numeric = scores["helpfulness"]
    assert numeric.id == "sdk-numeric" and numeric.value == 0.75 and numeric.comment == "from the sdk"
    assert numeric.trace_id == "a" * 32 and numeric.environment == "sdk-test" and numeric.source == "API"
    assert scores["tone"].string_value == "calm" and scores["tone"].observation_id == "b" * 16
    assert scores["thumbs"].value == 1.0 and scores["thumbs"].data_type == "BOOLEAN"


@pytest.mark.django_db(transaction=True)
@pytest.mark.filterwarnings("ignore:Trace-level input/output is deprecated:DeprecationWarning")
def test_real_langfuse_sdk_v4_traces_over_otlp(live_server: Any, acme: Tenant) -> None:
    """v4 exports spans over OTLP too (legacy capture 007): raw metadata values, `langfuse.trace.input/output`."""
    from langfuse import Langfuse, observe, propagate_attributes

    langfuse = Langfuse(
        public_key=acme.public_key, secret_key=acme.secret_key, host=live_server.url, environment="sdk-v4"
    )
    ids: dict[str, Any] = {}

    @observe(name="lookup", as_type="tool")
    def lookup(query: str) -> dict[str, int]:
        return {"hits": len(query)}

    @observe(name="handle-request")
    def handle(question: str) -> str:
        ids["trace_id"] = langfuse.get_current_trace_id()
        with propagate_attributes(user_id="user-v4", session_id="sess-v4", tags=["v4"], metadata={"tier": "silver"}):
            lookup(question, langfuse_public_key=acme.public_key)
            with langfuse.start_as_current_observation(
                as_type="generation", name="llm", model="gpt-4o-mini", input=[{"role": "user", "content": question}]
            ) as generation:
                generation.update(
                    output="pong",
                    usage_details={"input": 10, "output": 5},
                    cost_details={"input": 0.001, "output": 0.002},
                    metadata={"attempt": 2},
                )
            with langfuse.start_as_current_observation(name="broken") as broken:
                broken.update(level="ERROR", status_message="boom")
            langfuse.set_current_trace_io(input={"question": question}, output={"answer": "pong"})
        return "pong"

    try:
        handle("ping", langfuse_public_key=acme.public_key)
        langfuse.flush()
    finally:
        langfuse.shutdown()

    trace = Trace.objects.get(project_id=acme.project.pk, id=ids["trace_id"])
    assert (trace.name, trace.user_id, trace.session_id, trace.tags) == ("handle-request", "user-v4", "sess-v4", ["v4"])
    assert trace.metadata["tier"] == "silver" and trace.environment == "sdk-v4"
    assert (trace.input, trace.output) == ({"question": "ping"}, {"answer": "pong"})
    by_name = {o.name: o for o in Observation.objects.filter(project_id=acme.project.pk, trace_id=trace.id)}
    assert set(by_name) == {"handle-request", "lookup", "llm", "broken"}
    root = by_name["handle-request"]
    assert root.parent_id is None and root.type == "SPAN"
    assert {name: (o.type, o.parent_id) for name, o in by_name.items() if o is not root} == {
        "lookup": ("TOOL", root.id),
        "llm": ("GENERATION", root.id),
        "broken": ("SPAN", root.id),
    }
    generation = by_name["llm"]
    assert generation.model == "gpt-4o-mini" and generation.output == "pong"
    assert generation.input == [{"role": "user", "content": "ping"}] and generation.metadata["attempt"] == 2
    assert (generation.input_tokens, generation.output_tokens) == (10, 5)
    assert generation.cost == {"input": 0.001, "output": 0.002} and generation.cost_source == "provided"
    assert (by_name["broken"].level, by_name["broken"].status_message) == ("ERROR", "boom")
    assert by_name["lookup"].output == {"hits": 4}


# --- field mapping --------------------------------------------------------------------------------------


def _full_batch() -> list[dict[str, Any]]:
    return [
        event(
            "trace-create",
            {
                "id": "trace-1",
                "timestamp": iso(),
                "name": "chat turn",
                "userId": "user-7",
                "sessionId": "sess-1",
                "tags": ["b", "a"],
                "metadata": {"tier": "gold"},
                "input": {"q": "hi"},
                "output": "hello",
                "environment": "Production",
                "release": "r1",
                "version": "v2",
                "public": True,
            },
        ),
        event(
            "span-create",
            {"id": "span-1", "traceId": "trace-1", "name": "agent", "startTime": iso(), "endTime": iso(3)},
        ),
        event(
            "generation-create",
            {
                "id": "gen-1",
                "traceId": "trace-1",
                "parentObservationId": "span-1",
                "name": "llm",
                "startTime": iso(1),
                "completionStartTime": iso(1.5),
                "model": "gpt-4o",
                "modelParameters": {"temperature": 0.2, "max_tokens": 100},
                "input": [{"role": "user", "content": "hi"}],
                "promptName": "greeting",
                "promptVersion": 3,
                "usage": {"input": 10, "output": 5, "total": 15, "unit": "TOKENS"},
                "metadata": {"a": 1},
            },
            seconds=1,
        ),
        event(
            "generation-update",
            {
                "id": "gen-1",
                "traceId": "trace-1",
                "endTime": iso(2),
                "output": {"role": "assistant", "content": "hello"},
                "costDetails": {"input": 0.001, "output": 0.002, "total": 0.003},
                "level": "WARNING",
                "statusMessage": "slow",
                "metadata": {"b": 2},
            },
            seconds=2,
        ),
        event(
            "event-create",
            {"id": "ev-1", "traceId": "trace-1", "parentObservationId": "span-1", "name": "click", "startTime": iso(2)},
        ),
        event(
            "tool-create",
            {"id": "tool-1", "traceId": "trace-1", "name": "search", "startTime": iso(1), "endTime": iso(1.2)},
        ),
        event("sdk-log", {"log": "hello"}),
    ]


def test_batch_fields_are_mapped(acme: Tenant, client: Client) -> None:
    batch = _full_batch()
    ok, errors = statuses(post(client, acme, {"batch": batch, "metadata": {"sdk_name": "js"}}))
    assert errors == {} and sorted(ok) == sorted(e["id"] for e in batch)
    pid = acme.project.pk
    trace = Trace.objects.get(project_id=pid, id="trace-1")
    assert (trace.name, trace.user_id, trace.session_id, trace.tags) == ("chat turn", "user-7", "sess-1", ["a", "b"])
    assert trace.metadata == {"tier": "gold"} and trace.input == {"q": "hi"} and trace.output == "hello"
    assert (trace.environment, trace.release, trace.version, trace.public) == ("production", "r1", "v2", True)
    assert trace.observation_count == 4 and trace.total_tokens == 15 and trace.latency_ms == 3000
    assert Session.objects.filter(project_id=pid, id="sess-1").exists()
    obs = {o.id: o for o in Observation.objects.filter(project_id=pid)}
    gen = obs["gen-1"]
    assert (gen.type, gen.parent_id, gen.name, gen.model) == ("GENERATION", "span-1", "llm", "gpt-4o")
    assert gen.model_parameters == {"temperature": 0.2, "max_tokens": 100}
    assert gen.usage == {"input": 10, "output": 5, "total": 15} and gen.input_tokens == 10
    assert gen.cost == {"input": 0.001, "output": 0.002, "total": 0.003} and gen.cost_source == "provided"
    assert float(gen.total_cost) == 0.003
    assert gen.output == {"role": "assistant", "content": "hello"} and gen.metadata == {"a": 1, "b": 2}
    assert (gen.level, gen.status_message, gen.prompt_name, gen.prompt_version) == ("WARNING", "slow", "greeting", 3)
    assert gen.completion_start_time == T0 + timedelta(seconds=1.5) and gen.end_time == T0 + timedelta(seconds=2)
    assert obs["span-1"].type == "SPAN" and obs["span-1"].parent_id is None
    assert obs["ev-1"].type == "EVENT" and obs["tool-1"].type == "TOOL"


def test_legacy_prompt_tokens_and_openai_usage_details(acme: Tenant, client: Client) -> None:
    batch = [
        event(
            "generation-create",
            {"id": "g1", "traceId": "t", "startTime": iso(), "usage": {"promptTokens": 7, "completionTokens": 3}},
        ),
        event(
            "observation-create",
            {
                "id": "g2",
                "traceId": "t",
                "type": "GENERATION",
                "startTime": iso(),
                "usageDetails": {
                    "prompt_tokens": 100,
                    "completion_tokens": 40,
                    "total_tokens": 140,
                    "prompt_tokens_details": {"cached_tokens": 30},
                    "completion_tokens_details": {"reasoning_tokens": 10},
                },
            },
        ),
    ]
    statuses(post(client, acme, {"batch": batch}))
    obs = {o.id: o for o in Observation.objects.filter(project_id=acme.project.pk)}
    assert obs["g1"].usage == {"input": 7, "output": 3}
    assert obs["g2"].type == "GENERATION"
    assert obs["g2"].usage == {"input": 70, "output": 30, "total": 140, "cache_read": 30, "reasoning": 10}


# --- per-event errors -----------------------------------------------------------------------------------


def test_mixed_batch_stores_good_events_and_reports_bad_ones(acme: Tenant, client: Client) -> None:
    good = [
        event("trace-create", {"id": "t-good", "name": "fine"}),
        event("span-create", {"id": "s-good", "traceId": "t-good", "startTime": iso()}),
        event("score-create", {"name": "q", "value": 1, "traceId": "t-good"}),
    ]
    bad = {
        "no-body-id": event("span-create", {"traceId": "t-good"}, event_id="no-body-id"),
        "bad-time": event(
            "span-create", {"id": "s2", "traceId": "t-good", "startTime": "yesterday"}, event_id="bad-time"
        ),
        "bad-level": event("span-create", {"id": "s3", "traceId": "t", "level": "LOUD"}, event_id="bad-level"),
        "no-trace": event("span-update", {"id": "never-seen", "name": "x"}, event_id="no-trace"),
        "unknown": event("dataset-create", {"id": "d"}, event_id="unknown"),
        "score-no-value": event("score-create", {"name": "q", "traceId": "t-good"}, event_id="score-no-value"),
        "body-list": {"id": "body-list", "type": "trace-create", "timestamp": iso(), "body": []},
        "bad-envelope-time": {**event("trace-create", {"id": "t3"}), "id": "bad-envelope-time", "timestamp": 12},
    }
    response = post(client, acme, {"batch": [*good, *bad.values(), "not-an-event"]})
    ok, errors = statuses(response)
    assert sorted(ok) == sorted(e["id"] for e in good)
    assert set(errors) == {*bad, None}
    assert all(e["status"] == 400 for e in errors.values())
    assert "body.id" in errors["no-body-id"]["message"]
    assert "body.startTime" in errors["bad-time"]["message"]
    assert "body.level" in errors["bad-level"]["message"]
    assert "body.traceId" in errors["no-trace"]["message"]
    assert "dataset-create" in errors["unknown"]["message"]
    assert "body.value" in errors["score-no-value"]["message"]
    assert errors["body-list"]["field"] == "body" and errors["bad-envelope-time"]["field"] == "timestamp"
    pid = acme.project.pk
    assert list(Trace.objects.filter(project_id=pid).values_list("id", flat=True)) == ["t-good"]
    assert list(Observation.objects.filter(project_id=pid).values_list("id", flat=True)) == ["s-good"]
    assert Score.objects.filter(project_id=pid).count() == 1


def test_only_unknown_event_types_still_answer_207(acme: Tenant, client: Client) -> None:
    response = post(client, acme, {"batch": [event("media-create", {"id": "m"}, event_id="e1")]})
    ok, errors = statuses(response)
    assert ok == [] and errors["e1"]["status"] == 400


def test_empty_batch_is_207(acme: Tenant, client: Client) -> None:
    assert post(client, acme, {"batch": []}).json() == {"successes": [], "errors": []}


# --- ordering and idempotence ---------------------------------------------------------------------------


def test_update_before_create_in_one_batch_and_across_requests(acme: Tenant, client: Client) -> None:
    pid = acme.project.pk
    update = event(
        "generation-update", {"id": "g", "traceId": "t", "endTime": iso(4), "output": "done", "level": "ERROR"}, 9
    )
    create = event("generation-create", {"id": "g", "traceId": "t", "startTime": iso(1), "model": "m", "input": "q"}, 1)
    statuses(post(client, acme, {"batch": [update, create]}))
    gen = Observation.objects.get(project_id=pid, id="g")
    assert (gen.start_time, gen.end_time, gen.input, gen.output) == (
        T0 + timedelta(seconds=1),
        T0 + timedelta(seconds=4),
        "q",
        "done",
    )
    assert gen.level == "ERROR" and gen.model == "m"

    # Across requests: the update first (its row is made from the update), then the create fills in.
    statuses(post(client, acme, {"batch": [event("span-update", {"id": "s", "traceId": "t", "output": "o"}, 5)]}))
    statuses(
        post(
            client,
            acme,
            {"batch": [event("span-create", {"id": "s", "traceId": "t", "name": "n", "startTime": iso(2)}, 2)]},
        )
    )
    span = Observation.objects.get(project_id=pid, id="s")
    assert (span.name, span.output, span.start_time) == ("n", "o", T0 + timedelta(seconds=2))
    # A later partial update keeps the stored level, type, environment and trace.
    statuses(post(client, acme, {"batch": [event("observation-update", {"id": "g", "statusMessage": "late"}, 10)]}))
    gen = Observation.objects.get(project_id=pid, id="g")
    assert (gen.type, gen.level, gen.trace_id, gen.status_message) == ("GENERATION", "ERROR", "t", "late")
    assert gen.start_time == T0 + timedelta(seconds=1)


def test_trace_upsert_keeps_fields_not_sent(acme: Tenant, client: Client) -> None:
    statuses(post(client, acme, {"batch": [event("trace-create", {"id": "t", "public": True, "environment": "prod"})]}))
    statuses(post(client, acme, {"batch": [event("trace-create", {"id": "t", "output": "later"}, 3)]}))
    trace = Trace.objects.get(project_id=acme.project.pk, id="t")
    assert (trace.public, trace.environment, trace.output) == (True, "prod", "later")


def test_same_batch_twice_gives_the_same_rows(acme: Tenant, client: Client) -> None:
    payload = {"batch": _full_batch()}
    pid = acme.project.pk

    def snapshot() -> list[Any]:
        return [
            list(Trace.objects.filter(project_id=pid).values("id", "name", "tags", "metadata", "observation_count")),
            list(Observation.objects.filter(project_id=pid).order_by("id").values("id", "metadata", "usage", "cost")),
        ]

    statuses(post(client, acme, payload))
    first = snapshot()
    statuses(post(client, acme, payload))
    assert snapshot() == first


def test_children_before_their_trace(acme: Tenant, client: Client) -> None:
    pid = acme.project.pk
    child = event("span-create", {"id": "c", "traceId": "late-trace", "parentObservationId": "p", "startTime": iso(5)})
    statuses(post(client, acme, {"batch": [child]}))
    assert Trace.objects.get(project_id=pid, id="late-trace").name is None
    trace = event("trace-create", {"id": "late-trace", "name": "root", "timestamp": iso(0)})
    parent = event("span-create", {"id": "p", "traceId": "late-trace", "startTime": iso(0), "endTime": iso(6)})
    statuses(post(client, acme, {"batch": [trace, parent]}))
    stored = Trace.objects.get(project_id=pid, id="late-trace")
    assert stored.name == "root" and stored.timestamp == T0 and stored.observation_count == 2
    assert stored.latency_ms == 6000


# --- whole-request failures -----------------------------------------------------------------------------


def test_ingestion_version_above_4_is_400(acme: Tenant, client: Client) -> None:
    payload = {"batch": [event("trace-create", {"id": "t"})]}
    response = post(client, acme, payload, headers={"x-langfuse-ingestion-version": "5"})
    assert response.status_code == 400 and response.json()["field"] == "x-langfuse-ingestion-version"
    assert not Trace.objects.filter(project_id=acme.project.pk).exists()
    assert post(client, acme, payload, headers={"x-langfuse-ingestion-version": "4"}).status_code == 207


def test_invalid_json_is_400(acme: Tenant, client: Client) -> None:
    response = post(client, acme, None, raw=b'{"batch": [')
    assert response.status_code == 400 and "JSON" in response.json()["message"]
    assert post(client, acme, None, path=SCORES, raw=b"nope").status_code == 400


@pytest.mark.parametrize("payload", [[], "batch", {"batch": {"id": 1}}, {"events": []}])
def test_envelope_without_batch_list_is_400(payload: Any, acme: Tenant, client: Client) -> None:
    response = post(client, acme, payload)
    assert response.status_code == 400 and response.json()["field"] == "batch"


def test_wrong_key_is_401(acme: Tenant, client: Client) -> None:
    bad = Tenant(acme.organization, acme.project, acme.public_key, "sk-wrong")
    for path in (INGESTION, SCORES):
        response = post(client, bad, {"batch": []}, path=path)
        assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Basic")
        assert post(client, None, {"batch": []}, path=path).status_code == 401


def test_globex_key_cannot_write_into_acme(acme: Tenant, globex: Tenant, client: Client) -> None:
    statuses(post(client, acme, {"batch": [event("trace-create", {"id": "shared", "name": "acme's"})]}))
    statuses(post(client, globex, {"batch": [event("trace-create", {"id": "shared", "name": "globex's"})]}))
    post(client, globex, {"name": "s", "value": 1, "traceId": "shared", "id": "sc"}, path=SCORES)
    assert Trace.objects.get(project_id=acme.project.pk, id="shared").name == "acme's"
    assert Trace.objects.get(project_id=globex.project.pk, id="shared").name == "globex's"
    assert not Score.objects.filter(project_id=acme.project.pk).exists()
    assert Score.objects.filter(project_id=globex.project.pk, id="sc").exists()


def test_body_over_limit_is_413(acme: Tenant, client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_BODY_BYTES", 100)
    response = post(client, acme, {"batch": [event("trace-create", {"id": "t", "input": "x" * 200})]})
    assert response.status_code == 413


def test_gzip_body_is_accepted(acme: Tenant, client: Client) -> None:
    raw = gzip.compress(json.dumps({"batch": [event("trace-create", {"id": "gz"})]}).encode())
    response = post(client, acme, None, raw=raw, headers={"content-encoding": "gzip"})
    statuses(response)
    assert Trace.objects.filter(project_id=acme.project.pk, id="gz").exists()


# --- bounded values -------------------------------------------------------------------------------------


def test_nul_in_input_is_stored_escaped(acme: Tenant, client: Client) -> None:
    body = {"id": "t", "name": "a\x00b", "input": {"k\x00": "v\x00w"}, "metadata": {"m": "\x00"}}
    statuses(post(client, acme, {"batch": [event("trace-create", body)]}))
    trace = Trace.objects.get(project_id=acme.project.pk, id="t")
    assert trace.name == "a\\u0000b" and trace.input == {"k\\u0000": "v\\u0000w"} and trace.metadata == {"m": "\\u0000"}
    _, errors = statuses(post(client, acme, {"batch": [event("trace-create", {"id": "t\x00"}, event_id="e")]}))
    assert "body.id" in errors["e"]["message"]


def test_huge_and_deep_values_are_bounded(acme: Tenant, client: Client) -> None:
    deep: Any = "leaf"
    for _ in range(limits.MAX_JSON_DEPTH + 10):
        deep = {"d": deep}
    body = {"id": "s", "traceId": "t", "startTime": iso(), "input": "x" * (limits.MAX_ATTRIBUTE_CHARS + 50)}
    body["output"] = deep
    statuses(post(client, acme, {"batch": [event("span-create", body)]}))
    obs = Observation.objects.get(project_id=acme.project.pk, id="s")
    assert len(obs.input) <= limits.MAX_ATTRIBUTE_CHARS and obs.input.endswith(" chars]")
    assert "nested deeper than" in json.dumps(obs.output)


def test_statement_count_does_not_grow_with_events(acme: Tenant, client: Client) -> None:
    def batch(n: int, base: int) -> dict[str, Any]:
        events = []
        for i in range(n):
            trace_id = f"t{base + i // 10}"
            if i % 10 == 0:
                events.append(event("trace-create", {"id": trace_id, "name": "n", "sessionId": f"s{base}"}))
            events.append(event("span-create", {"id": f"o{base}-{i}", "traceId": trace_id, "startTime": iso(i)}))
            events.append(event("span-update", {"id": f"o{base}-{i}", "endTime": iso(i + 1)}))
        events.append(event("score-create", {"name": "q", "value": 1, "traceId": f"t{base}"}))
        return {"batch": events}

    statuses(post(client, acme, batch(1, 100_000)))  # warm-up: key lookup cache, last-used stamp
    counts = []
    for n, base in ((10, 1), (300, 1000)):
        with CaptureQueriesContext(connection) as queries:
            statuses(post(client, acme, batch(n, base)))
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
    assert Observation.objects.filter(project_id=acme.project.pk).count() == 311


# --- POST /api/public/scores ----------------------------------------------------------------------------


def test_score_object_gets_an_id(acme: Tenant, client: Client) -> None:
    response = post(client, acme, {"name": "accuracy", "value": 0.9, "traceId": "t", "comment": "ok"}, path=SCORES)
    assert response.status_code == 200
    score_id = response.json()["id"]
    assert uuid.UUID(score_id).version == 4
    score = Score.objects.get(project_id=acme.project.pk, id=score_id)
    assert (score.value, score.data_type, score.source, score.comment) == (0.9, "NUMERIC", "API", "ok")


def test_score_object_with_id_and_types(acme: Tenant, client: Client) -> None:
    pid = acme.project.pk
    items = [
        {"id": "c", "name": "tone", "value": "calm", "dataType": "CATEGORICAL", "sessionId": "s"},
        {"id": "b", "name": "ok", "value": 0, "dataType": "BOOLEAN", "traceId": "t", "observationId": "o"},
        {"id": "r", "name": "avg", "value": 2, "datasetRunId": "run", "configId": "cfg", "environment": "ci"},
        {"id": "x", "name": "note", "value": "free text", "dataType": "TEXT", "traceId": "t"},
    ]
    for item in items:
        response = post(client, acme, item, path=SCORES)
        assert response.status_code == 200 and response.json() == {"id": item["id"]}
    stored = {s.id: s for s in Score.objects.filter(project_id=pid)}
    assert (stored["c"].string_value, stored["c"].value) == ("calm", None)
    assert (stored["b"].value, stored["b"].string_value, stored["b"].observation_id) == (0.0, "False", "o")
    assert (stored["r"].dataset_run_id, stored["r"].config_id, stored["r"].environment) == ("run", "cfg", "ci")
    assert stored["x"].data_type == "TEXT" and stored["x"].string_value == "free text"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"value": 1, "traceId": "t"}, "name"),
        ({"name": "n", "traceId": "t"}, "value"),
        ({"name": "n", "value": [1], "traceId": "t"}, "value"),
        ({"name": "n", "value": "x", "dataType": "NUMERIC", "traceId": "t"}, "value"),
        ({"name": "n", "value": 3, "dataType": "BOOLEAN", "traceId": "t"}, "value"),
        ({"name": "n", "value": 1, "dataType": "FUZZY", "traceId": "t"}, "dataType"),
        ({"name": "n", "value": 1}, "traceId"),
        ({"name": "n", "value": 1, "traceId": 5}, "traceId"),
        ({"name": "n", "value": 1, "traceId": "t", "timestamp": "soon"}, "timestamp"),
    ],
)
def test_score_validation_errors_are_400(payload: dict[str, Any], field: str, acme: Tenant, client: Client) -> None:
    response = post(client, acme, payload, path=SCORES)
    assert response.status_code == 400
    assert response.json()["field"] == field and field in response.json()["message"]
    assert not Score.objects.filter(project_id=acme.project.pk).exists()


def test_score_array_reports_per_item(acme: Tenant, client: Client) -> None:
    items = [{"id": "good", "name": "n", "value": 1, "traceId": "t"}, {"id": "bad", "name": "n", "traceId": "t"}]
    response = post(client, acme, items, path=SCORES)
    assert response.status_code == 207
    data = response.json()
    assert data["successes"] == [{"id": "good", "status": 201}] and data["accepted"] == 1 and data["rejected"] == 1
    assert data["errors"][0]["id"] == "bad" and "[1].value" in data["errors"][0]["message"]
    assert list(Score.objects.filter(project_id=acme.project.pk).values_list("id", flat=True)) == ["good"]
    assert post(client, acme, "just a string", path=SCORES).status_code == 400
