"""The public read/delete API (`/api/public/traces`, observations, scores, sessions, metrics, score configs):
Langfuse shapes and parameters, filters, paging, tenancy (another project's ids are 404), deletes that are
done when answered, and one JSON error shape for bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from projects.models import AuditEvent
from tests.conftest import Tenant
from traces.models import Observation, Score, ScoreConfig, Session, Trace
from traces.public_api import MAX_DELETE_IDS
from traces.services import ObservationIn, ScoreIn, TraceIn, trace_batch_write

pytestmark = pytest.mark.django_db

DAY = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def seed(tenant: Tenant) -> dict[str, Any]:
    """Three traces over two days with spans, generations and scores of every kind; returns the ids."""
    project_id = tenant.project.pk
    traces = [
        TraceIn(
            id="t-chat",
            timestamp=DAY,
            name="chat",
            user_id="u1",
            session_id="s1",
            tags=["a", "b"],
            environment="production",
            release="r1",
            version="v1",
            metadata={"tier": "gold"},
            input={"q": "hi"},
            output="hello",
        ),
        TraceIn(
            id="t-search",
            timestamp=DAY + timedelta(hours=1),
            name="search",
            user_id="u2",
            session_id="s1",
            tags=["a"],
            environment="dev",
            metadata=["not", "an", "object"],
        ),
        TraceIn(id="t-old", timestamp=DAY - timedelta(days=1), name="chat", user_id="u1", environment="production"),
    ]
    observations = [
        ObservationIn(id="o-root", trace_id="t-chat", start_time=DAY, end_time=DAY + timedelta(seconds=2), name="root"),
        ObservationIn(
            id="o-gen",
            trace_id="t-chat",
            parent_id="o-root",
            type="GENERATION",
            name="llm",
            start_time=DAY + timedelta(milliseconds=100),
            end_time=DAY + timedelta(seconds=1),
            completion_start_time=DAY + timedelta(milliseconds=400),
            model="gpt-4o",
            model_parameters={"temperature": 0.2},
            input=[{"role": "user", "content": "hi"}],
            output={"role": "assistant", "content": "hello"},
            usage={"input": 10, "output": 5, "total": 15},
            cost={"input": 0.001, "output": 0.002},
            cost_source="provided",
            prompt_name="support",
            prompt_version=2,
        ),
        ObservationIn(
            id="o-err",
            trace_id="t-chat",
            parent_id="o-root",
            type="EVENT",
            name="boom",
            start_time=DAY + timedelta(seconds=1),
            level="ERROR",
            status_message="timeout",
        ),
        ObservationIn(
            id="o-search",
            trace_id="t-search",
            type="GENERATION",
            name="llm",
            start_time=DAY + timedelta(hours=1),
            end_time=DAY + timedelta(hours=1, seconds=3),
            model="gpt-4o-mini",
            usage={"input": 100, "output": 50, "total": 150},
            cost={"total": 0.01},
        ),
        ObservationIn(
            id="o-old", trace_id="t-old", type="GENERATION", start_time=DAY - timedelta(days=1), model="gpt-4o"
        ),
    ]
    scores = [
        ScoreIn(id="sc-num", name="accuracy", timestamp=DAY, value=0.9, trace_id="t-chat", comment="close"),
        ScoreIn(
            id="sc-bool",
            name="thumbs",
            timestamp=DAY + timedelta(seconds=1),
            value=1.0,
            data_type="BOOLEAN",
            trace_id="t-chat",
            observation_id="o-gen",
        ),
        ScoreIn(
            id="sc-cat",
            name="tone",
            timestamp=DAY + timedelta(hours=1),
            string_value="friendly",
            data_type="CATEGORICAL",
            trace_id="t-search",
        ),
        ScoreIn(id="sc-session", name="resolved", timestamp=DAY, value=1.0, session_id="s1"),
    ]
    trace_batch_write(project_id=project_id, traces=traces, observations=observations, scores=scores)
    return {"traces": [t.id for t in traces], "observations": [o.id for o in observations]}


def get(client: Client, tenant: Tenant | None, path: str, **params: Any) -> Any:
    headers = {"HTTP_AUTHORIZATION": tenant.basic_auth} if tenant else {}
    return client.get(path, params, **headers)


def send(client: Client, tenant: Tenant, method: str, path: str, body: Any = None, **extra: Any) -> Any:
    data = json.dumps(body) if body is not None else ""
    return getattr(client, method)(
        path, data=data, content_type="application/json", HTTP_AUTHORIZATION=tenant.basic_auth, **extra
    )


def assert_error(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) <= {"error", "message", "field"} and body["error"] and body["message"], body
    if field is not None:
        assert body.get("field") == field, body
    return body


@pytest.fixture
def data(acme: Tenant, globex: Tenant) -> dict[str, Any]:
    ids = seed(acme)
    trace_batch_write(
        project_id=globex.project.pk,
        traces=[TraceIn(id="g-trace", timestamp=DAY, name="chat", user_id="u1", session_id="gs")],
        observations=[ObservationIn(id="g-obs", trace_id="g-trace", start_time=DAY)],
        scores=[ScoreIn(id="g-score", name="accuracy", timestamp=DAY, value=1.0, trace_id="g-trace")],
    )
    return ids


# --- Traces ----------------------------------------------------------------------------------------


def test_trace_list_in_langfuse_shape_newest_first(client: Client, acme: Tenant, data: dict) -> None:
    response = get(client, acme, "/api/public/traces")
    assert response.status_code == 200
    body = response.json()
    assert body["meta"] == {"page": 1, "limit": 50, "totalItems": 3, "totalPages": 1}
    assert [t["id"] for t in body["data"]] == ["t-search", "t-chat", "t-old"]  # never globex's trace
    chat = body["data"][1]
    assert chat["name"] == "chat" and chat["userId"] == "u1" and chat["sessionId"] == "s1"
    assert chat["tags"] == ["a", "b"] and chat["environment"] == "production"
    assert (chat["release"], chat["version"]) == ("r1", "v1")
    assert chat["input"] == {"q": "hi"} and chat["output"] == "hello" and chat["metadata"] == {"tier": "gold"}
    assert chat["observations"] == ["o-root", "o-gen", "o-err"]
    assert sorted(chat["scores"]) == ["sc-bool", "sc-num"]
    assert chat["latency"] == 2.0 and chat["totalCost"] == pytest.approx(0.003)
    assert chat["htmlPath"] == f"/p/{acme.project.pk}/trace/t-chat"
    assert chat["timestamp"].startswith("2026-03-10T12:00:00")
    # Metadata that is not an object is wrapped, so strict clients (Langfuse's SDKs) can parse it.
    assert body["data"][0]["metadata"] == {"value": ["not", "an", "object"]}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"userId": "u1"}, ["t-chat", "t-old"]),
        ({"name": "search"}, ["t-search"]),
        ({"sessionId": "s1"}, ["t-search", "t-chat"]),
        ({"tags": ["a", "b"]}, ["t-chat"]),
        ({"tags": "a"}, ["t-search", "t-chat"]),
        ({"environment": ["dev", "production"]}, ["t-search", "t-chat", "t-old"]),
        ({"environment": "dev"}, ["t-search"]),
        ({"release": "r1", "version": "v1"}, ["t-chat"]),
        ({"fromTimestamp": "2026-03-10T00:00:00Z"}, ["t-search", "t-chat"]),
        ({"toTimestamp": "2026-03-10T12:00:00Z"}, ["t-old"]),
        ({"fromTimestamp": "2026-03-10", "toTimestamp": "2026-03-10T12:30:00+00:00"}, ["t-chat"]),
        ({"orderBy": "timestamp.asc"}, ["t-old", "t-chat", "t-search"]),
        ({"orderBy": "name.asc"}, ["t-chat", "t-old", "t-search"]),  # ties broken by id
        ({"userId": "nobody"}, []),
    ],
)
def test_trace_list_filters(client: Client, acme: Tenant, data: dict, params: dict, expected: list[str]) -> None:
    response = get(client, acme, "/api/public/traces", **params)
    assert response.status_code == 200, response.content
    assert [t["id"] for t in response.json()["data"]] == expected


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"release": "r1"}, ["t-r1-v2", "t-chat"]),
        ({"release": "r2"}, ["t-r2-v1"]),
        ({"version": "v1"}, ["t-r2-v1", "t-chat"]),
        ({"version": "v2"}, ["t-r1-v2"]),
        ({"release": "r1", "version": "v2"}, ["t-r1-v2"]),
        ({"release": "r2", "version": "v2"}, []),
    ],
)
def test_trace_list_release_and_version_filters_each_apply_alone(
    client: Client, acme: Tenant, data: dict, params: dict, expected: list[str]
) -> None:
    """Two more traces cross t-chat's release r1 / version v1, so each filter alone decides the answer."""
    trace_batch_write(
        project_id=acme.project.pk,
        traces=[
            TraceIn(id="t-r1-v2", timestamp=DAY + timedelta(hours=2), release="r1", version="v2"),
            TraceIn(id="t-r2-v1", timestamp=DAY + timedelta(hours=3), release="r2", version="v1"),
        ],
    )
    assert [t["id"] for t in get(client, acme, "/api/public/traces", **params).json()["data"]] == expected


def test_trace_list_field_groups(client: Client, acme: Tenant, data: dict) -> None:
    row = get(client, acme, "/api/public/traces", fields="core,scores", userId="u1", limit=1).json()["data"][0]
    assert row["id"] == "t-chat" and row["name"] == "chat"
    assert row["observations"] == [] and sorted(row["scores"]) == ["sc-bool", "sc-num"]
    assert (row["input"], row["metadata"], row["latency"], row["totalCost"]) == (None, None, -1, -1)
    assert_error(get(client, acme, "/api/public/traces", fields="core,everything"), 400, "fields")


def test_trace_list_pages(client: Client, acme: Tenant, data: dict) -> None:
    first = get(client, acme, "/api/public/traces", limit=2).json()
    second = get(client, acme, "/api/public/traces", limit=2, page=2).json()
    assert first["meta"] == {"page": 1, "limit": 2, "totalItems": 3, "totalPages": 2}
    assert [t["id"] for t in first["data"] + second["data"]] == ["t-search", "t-chat", "t-old"]
    assert get(client, acme, "/api/public/traces", page=9).json()["data"] == []


LIST_PATHS = [
    "/api/public/traces",
    "/api/public/v2/observations?fields=core,basic,trace_context,usage",
    "/api/public/observations",
    "/api/public/scores",
    "/api/public/v3/scores?fields=details,subject",
    "/api/public/sessions",
    "/api/public/metrics/daily",
    "/api/public/score-configs",
]


def _queries(client: Client, tenant: Tenant, path: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path, HTTP_AUTHORIZATION=tenant.basic_auth)
    assert response.status_code == 200, response.content
    return len(queries)


def test_list_queries_do_not_grow_with_rows(client: Client, acme: Tenant, data: dict) -> None:
    """Every list endpoint: the same number of queries for a page of 3 rows as for a page of 40."""
    _queries(client, acme, "/api/public/sessions")  # the key's first use reads and touches it; later ones are cached
    before = {path: _queries(client, acme, path) for path in LIST_PATHS}
    trace_batch_write(
        project_id=acme.project.pk,
        traces=[TraceIn(id=f"bulk-{i}", timestamp=DAY + timedelta(minutes=i), session_id=f"bs-{i}") for i in range(40)],
        observations=[ObservationIn(id=f"bulk-o-{i}", trace_id=f"bulk-{i}", start_time=DAY) for i in range(40)],
        scores=[ScoreIn(id=f"bulk-s-{i}", name="n", timestamp=DAY, value=1.0, trace_id=f"bulk-{i}") for i in range(40)],
    )
    for i in range(40):
        ScoreConfig.objects.create(project=acme.project, name=f"config-{i}", data_type="NUMERIC")
    after = {path: _queries(client, acme, path) for path in LIST_PATHS}
    assert after == before


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"page": "x"}, "page"),
        ({"fromTimestamp": "yesterday"}, "fromTimestamp"),
        ({"toTimestamp": "2026-13-45T00:00:00Z"}, "toTimestamp"),
        ({"orderBy": "cost.desc"}, "orderBy"),
        ({"orderBy": "timestamp.sideways"}, "orderBy"),
        ({"name": "a\x00b"}, "name"),
    ],
)
def test_trace_list_bad_parameters_are_400_naming_the_field(
    client: Client, acme: Tenant, params: dict, field: str
) -> None:
    assert_error(get(client, acme, "/api/public/traces", **params), 400, field)


def test_trace_detail_has_observations_and_scores(client: Client, acme: Tenant, data: dict) -> None:
    response = get(client, acme, "/api/public/traces/t-chat")
    assert response.status_code == 200
    trace = response.json()
    assert [o["id"] for o in trace["observations"]] == ["o-root", "o-gen", "o-err"]
    gen = trace["observations"][1]
    assert gen["type"] == "GENERATION" and gen["model"] == "gpt-4o" and gen["parentObservationId"] == "o-root"
    assert gen["modelParameters"] == {"temperature": 0.2}
    assert gen["usage"]["input"] == 10 and gen["usage"]["output"] == 5 and gen["usage"]["total"] == 15
    assert gen["usageDetails"] == {"input": 10, "output": 5, "total": 15}
    assert gen["costDetails"] == {"input": 0.001, "output": 0.002}
    assert gen["promptName"] == "support" and gen["promptVersion"] == 2
    assert gen["latency"] == 0.9 and gen["timeToFirstToken"] == 0.3
    assert trace["observations"][2]["level"] == "ERROR" and trace["observations"][2]["statusMessage"] == "timeout"
    scores = {s["id"]: s for s in trace["scores"]}
    assert set(scores) == {"sc-num", "sc-bool"}
    assert scores["sc-num"]["value"] == 0.9 and scores["sc-num"]["dataType"] == "NUMERIC"
    assert scores["sc-bool"]["stringValue"] == "True" and scores["sc-bool"]["observationId"] == "o-gen"


def test_ids_of_another_project_are_404(client: Client, acme: Tenant, data: dict) -> None:
    for path in (
        "/api/public/traces/g-trace",
        "/api/public/observations/g-obs",
        "/api/public/scores/g-score",
        "/api/public/v2/scores/g-score",
        "/api/public/sessions/gs",
        "/api/public/traces/does-not-exist",
    ):
        assert_error(get(client, acme, path), 404)
    assert_error(send(client, acme, "delete", "/api/public/traces/g-trace"), 404)
    assert_error(send(client, acme, "delete", "/api/public/scores/g-score"), 404)
    assert Trace.objects.filter(id="g-trace").exists() and Score.objects.filter(id="g-score").exists()


def test_trace_ids_with_slashes_and_spaces(client: Client, acme: Tenant) -> None:
    trace_batch_write(project_id=acme.project.pk, traces=[TraceIn(id="run/7 step 2", timestamp=DAY)])
    assert get(client, acme, "/api/public/traces/run%2F7%20step%202").json()["id"] == "run/7 step 2"
    assert get(client, acme, "/api/public/traces/run/7 step 2").json()["id"] == "run/7 step 2"


# --- Observations ----------------------------------------------------------------------------------


def test_v2_observations_cursor_walks_every_row_once(client: Client, acme: Tenant, data: dict) -> None:
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = get(client, acme, "/api/public/v2/observations", **params).json()
        seen += [o["id"] for o in body["data"]]
        cursor = body["meta"].get("cursor")
        if not cursor:
            break
    assert seen == ["o-search", "o-err", "o-gen", "o-root", "o-old"]


def test_v2_observations_field_groups_and_filters(client: Client, acme: Tenant, data: dict) -> None:
    body = get(client, acme, "/api/public/v2/observations", traceId="t-chat").json()
    row = next(o for o in body["data"] if o["id"] == "o-gen")
    # core + basic by default
    assert row["traceId"] == "t-chat" and row["type"] == "GENERATION" and row["projectId"] == str(acme.project.pk)
    assert row["name"] == "llm" and row["userId"] == "u1" and row["sessionId"] == "s1"
    assert row["isRootObservation"] is False and "input" not in row and "usageDetails" not in row
    full = get(client, acme, "/api/public/v2/observations", traceId="t-chat", fields="io,usage,model,trace_context")
    row = next(o for o in full.json()["data"] if o["id"] == "o-gen")
    assert row["input"] == [{"role": "user", "content": "hi"}] and row["usageDetails"]["input"] == 10
    assert row["model"] == "gpt-4o" and row["tags"] == ["a", "b"] and row["traceName"] == "chat"
    assert "name" not in row  # basic was not asked for

    def ids(**params: Any) -> list[str]:
        response = get(client, acme, "/api/public/v2/observations", **params)
        assert response.status_code == 200, response.content
        return [o["id"] for o in response.json()["data"]]

    assert ids(type="GENERATION") == ["o-search", "o-gen", "o-old"]
    assert ids(level="ERROR") == ["o-err"]
    assert ids(name="llm", traceId="t-search") == ["o-search"]
    assert ids(parentObservationId="o-root") == ["o-err", "o-gen"]
    assert ids(parentObservationId="", traceId="t-chat") == ["o-root"]
    assert ids(fromStartTime="2026-03-10T12:00:01Z", toStartTime="2026-03-10T13:00:00Z") == ["o-err"]
    assert ids(userId="u2") == ["o-search"]
    assert_error(get(client, acme, "/api/public/v2/observations", cursor="not-a-cursor"), 400, "cursor")
    assert_error(get(client, acme, "/api/public/v2/observations", fields="everything"), 400, "fields")
    assert_error(get(client, acme, "/api/public/v2/observations", type="LLM"), 400, "type")
    assert_error(get(client, acme, "/api/public/v2/observations", limit="1001"), 400, "limit")


def test_v1_observations_page_and_one(client: Client, acme: Tenant, data: dict) -> None:
    body = get(client, acme, "/api/public/observations", limit=2, type="GENERATION").json()
    assert body["meta"] == {"page": 1, "limit": 2, "totalItems": 3, "totalPages": 2}
    assert [o["id"] for o in body["data"]] == ["o-search", "o-gen"]
    one = get(client, acme, "/api/public/observations/o-gen").json()
    assert one["id"] == "o-gen" and one["traceId"] == "t-chat" and one["usage"]["totalCost"] == pytest.approx(0.003)


# --- Scores ----------------------------------------------------------------------------------------


def test_scores_list_filters_and_trace_context(client: Client, acme: Tenant, data: dict) -> None:
    for path in ("/api/public/scores", "/api/public/v2/scores"):
        body = get(client, acme, path).json()
        assert body["meta"]["totalItems"] == 4
        assert [s["id"] for s in body["data"]] == ["sc-cat", "sc-bool", "sc-session", "sc-num"]
    by_id = {s["id"]: s for s in get(client, acme, "/api/public/scores").json()["data"]}
    assert by_id["sc-cat"]["stringValue"] == "friendly" and by_id["sc-cat"]["dataType"] == "CATEGORICAL"
    assert by_id["sc-cat"]["trace"] == {"userId": "u2", "tags": ["a"], "environment": "dev", "sessionId": "s1"}
    assert by_id["sc-session"]["trace"] is None and by_id["sc-session"]["sessionId"] == "s1"

    def ids(**params: Any) -> list[str]:
        response = get(client, acme, "/api/public/scores", **params)
        assert response.status_code == 200, response.content
        return sorted(s["id"] for s in response.json()["data"])

    assert ids(name="accuracy") == ["sc-num"]
    assert ids(dataType="BOOLEAN") == ["sc-bool"]
    assert ids(traceId="t-chat") == ["sc-bool", "sc-num"]
    assert ids(observationId="o-gen") == ["sc-bool"]
    assert ids(sessionId="s1") == ["sc-session"]
    assert ids(userId="u2") == ["sc-cat"]
    assert ids(source="API") == ["sc-bool", "sc-cat", "sc-num", "sc-session"]
    assert ids(operator=">=", value="0.95") == ["sc-bool", "sc-session"]
    assert ids(scoreIds="sc-num,sc-cat") == ["sc-cat", "sc-num"]
    assert_error(get(client, acme, "/api/public/scores", operator=">"), 400, "value")
    assert_error(get(client, acme, "/api/public/scores", dataType="WORDS"), 400, "dataType")
    assert_error(get(client, acme, "/api/public/scores", operator="<", value="nan"), 400, "value")


def test_v3_scores_typed_values_subjects_and_cursor(client: Client, acme: Tenant, data: dict) -> None:
    first = get(client, acme, "/api/public/v3/scores", limit=3, fields="details,subject").json()
    assert first["meta"]["limit"] == 3 and first["meta"]["cursor"]
    rest = get(client, acme, "/api/public/v3/scores", cursor=first["meta"]["cursor"], fields="subject").json()
    assert "cursor" not in rest["meta"]
    rows = {s["id"]: s for s in first["data"] + rest["data"]}
    assert list(rows) == ["sc-cat", "sc-bool", "sc-session", "sc-num"]
    assert rows["sc-num"]["value"] == 0.9 and rows["sc-bool"]["value"] is True and rows["sc-cat"]["value"] == "friendly"
    assert rows["sc-bool"]["subject"] == {"kind": "observation", "id": "o-gen", "traceId": "t-chat"}
    assert rows["sc-session"]["subject"] == {"kind": "session", "id": "s1"}
    assert rows["sc-cat"]["comment"] is None and "comment" not in rows["sc-num"]  # details only on page one

    def ids(**params: Any) -> list[str]:
        response = get(client, acme, "/api/public/v3/scores", **params)
        assert response.status_code == 200, response.content
        return sorted(s["id"] for s in response.json()["data"])

    assert ids(dataType="numeric") == ["sc-num", "sc-session"]
    assert ids(name="accuracy,tone") == ["sc-cat", "sc-num"]
    assert ids(traceId="t-chat", valueMin="0.95") == ["sc-bool"]
    assert ids(source="api", sessionId="s1") == ["sc-session"]
    assert_error(get(client, acme, "/api/public/v3/scores", fields="everything"), 400, "fields")
    assert_error(get(client, acme, "/api/public/v3/scores", dataType="WORDS"), 400, "dataType")
    assert_error(get(client, acme, "/api/public/v3/scores", cursor="zzz"), 400, "cursor")


def test_scores_post_still_ingests(client: Client, acme: Tenant, data: dict) -> None:
    response = send(client, acme, "post", "/api/public/scores", {"traceId": "t-chat", "name": "x", "value": 3})
    assert response.status_code == 200, response.content
    score_id = response.json()["id"]
    assert get(client, acme, f"/api/public/scores/{score_id}").json()["value"] == 3


def test_score_delete_is_done_when_answered_and_audited(client: Client, acme: Tenant, data: dict) -> None:
    response = send(client, acme, "delete", "/api/public/scores/sc-num")
    assert response.status_code == 204
    assert_error(get(client, acme, "/api/public/scores/sc-num"), 404)
    assert "sc-num" not in get(client, acme, "/api/public/traces/t-chat").json()["scores"]
    event = AuditEvent.objects.get(action="scores.delete")
    assert event.target == "sc-num" and event.actor_api_key.public_key == acme.public_key


# --- Deletes ---------------------------------------------------------------------------------------


def test_trace_delete_removes_observations_and_scores_and_is_audited(client: Client, acme: Tenant, data: dict) -> None:
    response = send(client, acme, "delete", "/api/public/traces/t-chat")
    assert response.status_code == 200
    assert response.json() == {"message": "Trace deleted.", "deleted": 1}
    assert_error(get(client, acme, "/api/public/traces/t-chat"), 404)
    assert get(client, acme, "/api/public/v2/observations", traceId="t-chat").json()["data"] == []
    assert get(client, acme, "/api/public/scores", traceId="t-chat").json()["data"] == []
    event = AuditEvent.objects.get(action="traces.delete")
    assert event.target == "t-chat" and event.actor_api_key.public_key == acme.public_key


def test_bulk_trace_delete(client: Client, acme: Tenant, data: dict) -> None:
    response = send(client, acme, "delete", "/api/public/traces", {"traceIds": ["t-chat", "t-old", "g-trace", "nope"]})
    assert response.status_code == 200
    assert response.json()["deleted"] == 2
    assert [t["id"] for t in get(client, acme, "/api/public/traces").json()["data"]] == ["t-search"]
    assert Trace.objects.filter(id="g-trace").exists()  # another project's trace is untouched
    assert not Observation.objects.filter(project_id=acme.project.pk, trace_id__in=["t-chat", "t-old"]).exists()
    assert_error(send(client, acme, "delete", "/api/public/traces", {"traceIds": []}), 400, "traceIds")
    assert_error(send(client, acme, "delete", "/api/public/traces", {"traceIds": ["x"] * 1001}), 400, "traceIds")
    assert_error(send(client, acme, "delete", "/api/public/traces", {"ids": ["t-search"]}), 400, "traceIds")
    assert_error(send(client, acme, "delete", "/api/public/traces", {"traceIds": [{"id": 7}]}), 400)


def test_bulk_trace_delete_takes_exactly_1000_ids_with_their_scores_and_is_audited(
    client: Client, acme: Tenant, data: dict
) -> None:
    extra = [f"bulk-{i}" for i in range(997)]
    trace_batch_write(
        project_id=acme.project.pk,
        traces=[TraceIn(id=trace_id, timestamp=DAY) for trace_id in extra],
        scores=[ScoreIn(id=f"score-{t}", name="n", timestamp=DAY, value=1.0, trace_id=t) for t in extra[:50]],
    )
    trace_ids = ["t-chat", "t-search", "g-trace", *extra]  # 1,000: globex's trace is not acme's to delete
    assert len(trace_ids) == MAX_DELETE_IDS == 1000
    response = send(client, acme, "delete", "/api/public/traces", {"traceIds": trace_ids})
    assert response.status_code == 200, response.content
    assert response.json() == {"message": "Deleted 999 of 1000 traces.", "deleted": 999}
    assert list(Trace.objects.filter(project_id=acme.project.pk).values_list("id", flat=True)) == ["t-old"]
    # their scores (on the traces and on their observations) went with them; the session's own score stays
    assert set(Score.objects.filter(project_id=acme.project.pk).values_list("id", flat=True)) == {"sc-session"}
    assert not Observation.objects.filter(project_id=acme.project.pk, trace_id__in=trace_ids).exists()
    assert Trace.objects.filter(id="g-trace").exists() and Score.objects.filter(id="g-score").exists()
    event = AuditEvent.objects.get(action="traces.delete")
    assert event.actor_api_key.public_key == acme.public_key and event.project_id == acme.project.pk
    assert event.target == "1000 traces" and event.before["found"] == 999 and len(event.before["trace_ids"]) == 1000


# --- Sessions and metrics --------------------------------------------------------------------------


def test_sessions(client: Client, acme: Tenant, data: dict) -> None:
    body = get(client, acme, "/api/public/sessions").json()
    assert [s["id"] for s in body["data"]] == ["s1"] and body["meta"]["totalItems"] == 1
    assert (
        body["data"][0]["projectId"] == str(acme.project.pk) and body["data"][0]["environment"] == "production"
    )  # its traces' environment
    detail = get(client, acme, "/api/public/sessions/s1").json()
    assert [t["id"] for t in detail["traces"]] == ["t-chat", "t-search"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["s-new", "s-mid", "s-old"]),
        ({"fromTimestamp": "2026-03-02T00:00:00Z"}, ["s-new", "s-mid"]),
        ({"toTimestamp": "2026-03-02T00:00:00Z"}, ["s-old"]),
        ({"fromTimestamp": "2026-03-02", "toTimestamp": "2026-03-04"}, ["s-mid"]),
        ({"toTimestamp": "2026-03-01T00:00:00Z"}, []),  # before, never at, toTimestamp
        ({"environment": "dev"}, ["s-new", "s-old"]),
        ({"environment": ["production", "staging"]}, ["s-mid"]),
        ({"environment": "dev", "fromTimestamp": "2026-03-02T00:00:00Z"}, ["s-new"]),
    ],
)
def test_sessions_list_filters(client: Client, acme: Tenant, globex: Tenant, params: dict, expected: list[str]) -> None:
    for tenant, session_id, day, environment in [
        (acme, "s-old", 1, "dev"),
        (acme, "s-mid", 3, "production"),
        (acme, "s-new", 5, "dev"),
        (globex, "g-session", 3, "dev"),
    ]:
        created = datetime(2026, 3, day, tzinfo=UTC)
        Session.objects.create(project=tenant.project, id=session_id, environment=environment, created_at=created)
    body = get(client, acme, "/api/public/sessions", **params).json()
    assert [s["id"] for s in body["data"]] == expected and body["meta"]["totalItems"] == len(expected)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"userId": "u1"}, [("2026-03-10", 1, 3), ("2026-03-09", 1, 1)]),
        ({"userId": "u2"}, [("2026-03-10", 1, 1)]),
        ({"userId": "nobody"}, []),
        ({"fromTimestamp": "2026-03-10T00:00:00Z"}, [("2026-03-10", 2, 4)]),
        ({"toTimestamp": "2026-03-10T12:30:00Z"}, [("2026-03-10", 1, 3), ("2026-03-09", 1, 1)]),
        ({"toTimestamp": "2026-03-10T12:00:00Z"}, [("2026-03-09", 1, 1)]),  # before, never at, toTimestamp
        ({"userId": "u1", "fromTimestamp": "2026-03-10"}, [("2026-03-10", 1, 3)]),
    ],
)
def test_metrics_daily_user_and_time_filters(
    client: Client, acme: Tenant, data: dict, params: dict, expected: list
) -> None:
    body = get(client, acme, "/api/public/metrics/daily", **params).json()
    assert [(d["date"], d["countTraces"], d["countObservations"]) for d in body["data"]] == expected


def test_metrics_daily(client: Client, acme: Tenant, data: dict) -> None:
    body = get(client, acme, "/api/public/metrics/daily").json()
    assert body["meta"]["totalItems"] == 2
    today, yesterday = body["data"]
    assert today["date"] == "2026-03-10" and yesterday["date"] == "2026-03-09"
    assert (today["countTraces"], today["countObservations"]) == (2, 4)
    assert today["totalCost"] == pytest.approx(0.013)
    usage = {u["model"]: u for u in today["usage"]}
    assert set(usage) == {"gpt-4o", "gpt-4o-mini"}
    assert usage["gpt-4o"]["inputUsage"] == 10 and usage["gpt-4o"]["outputUsage"] == 5
    assert usage["gpt-4o-mini"]["totalUsage"] == 150 and usage["gpt-4o-mini"]["countTraces"] == 1
    assert (yesterday["countTraces"], yesterday["countObservations"]) == (1, 1)
    filtered = get(client, acme, "/api/public/metrics/daily", traceName="search").json()
    assert [(d["date"], d["countTraces"]) for d in filtered["data"]] == [("2026-03-10", 1)]
    tagged = get(client, acme, "/api/public/metrics/daily", tags="a", environment="production").json()
    assert [(d["date"], d["countTraces"], d["countObservations"]) for d in tagged["data"]] == [("2026-03-10", 1, 3)]
    assert get(client, acme, "/api/public/metrics/daily", limit=1, page=2).json()["data"][0]["date"] == "2026-03-09"


# --- Score configs ---------------------------------------------------------------------------------


def test_score_config_crud(client: Client, acme: Tenant, globex: Tenant) -> None:
    created = send(
        client, acme, "post", "/api/public/score-configs", {"name": "accuracy", "dataType": "NUMERIC", "minValue": 0}
    )
    assert created.status_code == 201, created.content
    config = created.json()
    assert config["dataType"] == "NUMERIC" and config["minValue"] == 0 and config["isArchived"] is False
    categorical = send(
        client,
        acme,
        "post",
        "/api/public/score-configs",
        {"name": "tone", "dataType": "CATEGORICAL", "categories": [{"label": "kind", "value": 1}]},
    ).json()
    boolean = send(client, acme, "post", "/api/public/score-configs", {"name": "ok", "dataType": "BOOLEAN"}).json()
    assert boolean["categories"] == [{"label": "True", "value": 1.0}, {"label": "False", "value": 0.0}]
    listed = get(client, acme, "/api/public/score-configs").json()
    assert [c["name"] for c in listed["data"]] == ["ok", "tone", "accuracy"] and listed["meta"]["totalItems"] == 3
    assert (
        get(client, acme, f"/api/public/score-configs/{categorical['id']}").json()["categories"][0]["label"] == "kind"
    )

    patched = send(
        client, acme, "patch", f"/api/public/score-configs/{config['id']}", {"isArchived": True, "maxValue": 5}
    )
    assert patched.status_code == 200 and patched.json()["isArchived"] is True and patched.json()["maxValue"] == 5
    assert ScoreConfig.objects.get(pk=config["id"]).is_archived
    assert AuditEvent.objects.filter(action="score_config.update", target="accuracy").exists()

    dup = send(client, acme, "post", "/api/public/score-configs", {"name": "accuracy", "dataType": "BOOLEAN"})
    assert_error(dup, 409, "name")
    bad = [
        ({"name": "x", "dataType": "CATEGORICAL"}, "categories"),
        ({"name": "x", "dataType": "NUMERIC", "minValue": 2, "maxValue": 1}, "maxValue"),
        ({"name": "x", "dataType": "WORDS"}, "dataType"),
        ({"dataType": "NUMERIC"}, "name"),
        ({"name": "x", "dataType": "CATEGORICAL", "categories": [{"label": "a", "value": 1}] * 2}, "categories"),
        ({"name": "x", "dataType": "BOOLEAN", "minValue": 0}, "minValue"),
    ]
    for body, field in bad:
        assert_error(send(client, acme, "post", "/api/public/score-configs", body), 400, field)
    over = send(client, acme, "patch", f"/api/public/score-configs/{config['id']}", {"minValue": 9})
    assert_error(over, 400, "maxValue")
    # DELETE archives (Langfuse has no delete): the config and its scores stay readable
    tone_path = f"/api/public/score-configs/{categorical['id']}"
    archived = send(client, acme, "delete", tone_path)
    assert archived.status_code == 200 and archived.json()["isArchived"] is True
    assert archived.json()["name"] == "tone" and get(client, acme, tone_path).json()["isArchived"] is True
    assert send(client, acme, "delete", tone_path).json()["isArchived"] is True  # again: nothing changes
    events = AuditEvent.objects.filter(action="score_config.update", target="tone")
    assert [(e.after, e.actor_api_key.public_key) for e in events] == [({"is_archived": True}, acme.public_key)]
    assert_error(send(client, acme, "delete", "/api/public/score-configs/999999"), 404)
    # globex sees none of acme's configs
    assert_error(send(client, globex, "delete", tone_path), 404)
    assert get(client, globex, "/api/public/score-configs").json()["data"] == []
    assert_error(get(client, globex, f"/api/public/score-configs/{config['id']}"), 404)
    assert_error(send(client, globex, "patch", f"/api/public/score-configs/{config['id']}", {"name": "z"}), 404)


# --- Errors ----------------------------------------------------------------------------------------


def test_error_shape_for_auth_method_path_size_and_media_type(client: Client, acme: Tenant, settings: Any) -> None:
    body = assert_error(get(client, None, "/api/public/traces"), 401)
    assert "public key" in body["message"]
    wrong = client.get("/api/public/traces", HTTP_AUTHORIZATION="Basic " + "x" * 10)
    assert_error(wrong, 401)
    assert_error(send(client, acme, "put", "/api/public/traces", {}), 405)
    assert_error(client.get("/api/public/ingestion"), 405)  # a plain Django view's 405, in the same shape
    assert_error(get(client, acme, "/api/public/no-such-thing"), 404)
    settings.PUBLIC_API_MAX_BODY_BYTES = 100
    assert_error(send(client, acme, "delete", "/api/public/traces", {"traceIds": ["x" * 200]}), 413)
    plain = client.post(
        "/api/public/score-configs", data="name=x", content_type="text/plain", HTTP_AUTHORIZATION=acme.basic_auth
    )
    assert_error(plain, 415)
    broken = client.post(
        "/api/public/score-configs", data="{", content_type="application/json", HTTP_AUTHORIZATION=acme.basic_auth
    )
    assert_error(broken, 400)
