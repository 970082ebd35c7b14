"""`GET /api/public/metrics?query=<json>` and `/api/public/v2/metrics`: Langfuse's metrics query on PostgreSQL.
Every view, measure, aggregation, dimension, filter type and operator, time granularity, ordering and row limit
against numbers worked out by hand from `tests.test_public_api.seed`; tenancy; one SQL query per request; and
bad input answering 400 naming the field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.conftest import Tenant
from tests.test_public_api import DAY, assert_error, get, seed
from tests.test_readme_snippets import readme_block
from traces.services import ObservationIn, ScoreIn, TraceIn, trace_batch_write

pytestmark = pytest.mark.django_db

V1 = "/api/public/metrics"
V2 = "/api/public/v2/metrics"
# All three traces (t-old is a day before the others) and just DAY (t-chat at 12:00, t-search at 13:00).
RANGE = {"fromTimestamp": "2026-03-09T00:00:00Z", "toTimestamp": "2026-03-11T00:00:00Z"}
ONE_DAY = {"fromTimestamp": "2026-03-10T00:00:00Z", "toTimestamp": "2026-03-10T23:59:59Z"}
COUNT = {"measure": "count", "aggregation": "count"}


def metrics(client: Client, tenant: Tenant, path: str = V1, **query: Any) -> list[dict[str, Any]]:
    response = get(client, tenant, path, query=json.dumps({**RANGE, **query}))
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"data"}
    return body["data"]


def counts(rows: list[dict[str, Any]], field: str) -> dict[Any, int]:
    return {row[field]: row["count_count"] for row in rows}


def ids(client: Client, tenant: Tenant, view: str, *filters: dict[str, Any]) -> set[str]:
    rows = metrics(client, tenant, view=view, dimensions=[{"field": "id"}], metrics=[COUNT], filters=list(filters))
    return {row["id"] for row in rows}


@pytest.fixture
def data(acme: Tenant, globex: Tenant) -> None:
    seed(acme)
    # globex has a trace, a generation and a score that look like acme's: none of them may count for acme
    trace_batch_write(
        project_id=globex.project.pk,
        traces=[TraceIn(id="g-trace", timestamp=DAY, name="chat", user_id="u1", tags=["a"])],
        observations=[ObservationIn(id="g-obs", trace_id="g-trace", type="GENERATION", start_time=DAY, model="gpt-4o")],
        scores=[ScoreIn(id="g-score", name="accuracy", timestamp=DAY, value=0.1, trace_id="g-trace")],
    )


# --- Views -----------------------------------------------------------------------------------------


def test_traces_by_name_in_langfuse_shape(client: Client, acme: Tenant, globex: Tenant, data: None) -> None:
    rows = metrics(client, acme, view="traces", dimensions=[{"field": "name"}], metrics=[COUNT])
    assert rows == [{"name": "chat", "count_count": 2}, {"name": "search", "count_count": 1}]  # most first
    assert metrics(client, globex, view="traces", dimensions=[{"field": "name"}], metrics=[COUNT]) == [
        {"name": "chat", "count_count": 1}
    ]


def test_traces_measures(client: Client, acme: Tenant, data: None) -> None:
    measures = ("count", "observationsCount", "totalCost", "totalTokens", "inputTokens", "outputTokens", "latency")
    wanted = [{"measure": m, "aggregation": "sum"} for m in measures]
    (row,) = metrics(client, acme, view="traces", metrics=wanted, **ONE_DAY)
    assert row == {
        "sum_count": 2,
        "sum_observationsCount": 4,
        "sum_totalCost": pytest.approx(0.013),
        "sum_totalTokens": 165,
        "sum_inputTokens": 110,
        "sum_outputTokens": 55,
        "sum_latency": 5000,
    }


@pytest.mark.parametrize(
    ("aggregation", "expected"),
    [
        ("count", 2),
        ("sum", 5000),
        ("avg", 2500),
        ("min", 2000),
        ("max", 3000),
        ("uniq", 2),
        ("p50", 2500),
        ("p75", 2750),
        ("p90", 2900),
        ("p95", 2950),
        ("p99", 2990),
    ],
)
def test_every_aggregation(client: Client, acme: Tenant, data: None, aggregation: str, expected: float) -> None:
    """Trace latencies of DAY: t-chat 2,000 ms and t-search 3,000 ms (percentiles interpolate)."""
    (row,) = metrics(
        client, acme, view="traces", metrics=[{"measure": "latency", "aggregation": aggregation}], **ONE_DAY
    )
    assert row == {f"{aggregation}_latency": pytest.approx(expected)}
    if aggregation in ("count", "sum", "min", "max", "uniq"):
        assert isinstance(row[f"{aggregation}_latency"], int)


def test_observations_measures_by_model(client: Client, acme: Tenant, data: None) -> None:
    wanted = [
        {"measure": measure, "aggregation": aggregation}
        for measure, aggregation in (
            ("count", "count"),
            ("totalTokens", "sum"),
            ("inputTokens", "sum"),
            ("outputTokens", "sum"),
            ("totalCost", "sum"),
            ("inputCost", "sum"),
            ("outputCost", "sum"),
            ("latency", "max"),
            ("timeToFirstToken", "max"),
            ("streamingLatency", "max"),
        )
    ]
    rows = metrics(
        client,
        acme,
        view="observations",
        dimensions=[{"field": "providedModelName"}],
        metrics=wanted,
        filters=[{"column": "type", "type": "string", "operator": "=", "value": "GENERATION"}],
        orderBy=[{"field": "providedModelName", "direction": "asc"}],
    )
    assert rows == [
        {
            "providedModelName": "gpt-4o",  # o-gen, and o-old (no usage, no end)
            "count_count": 2,
            "sum_totalTokens": 15,
            "sum_inputTokens": 10,
            "sum_outputTokens": 5,
            "sum_totalCost": pytest.approx(0.003),
            "sum_inputCost": pytest.approx(0.001),
            "sum_outputCost": pytest.approx(0.002),
            "max_latency": pytest.approx(900),
            "max_timeToFirstToken": pytest.approx(300),
            "max_streamingLatency": pytest.approx(600),
        },
        {
            "providedModelName": "gpt-4o-mini",  # o-search: a total cost only, no time to first token
            "count_count": 1,
            "sum_totalTokens": 150,
            "sum_inputTokens": 100,
            "sum_outputTokens": 50,
            "sum_totalCost": pytest.approx(0.01),
            "sum_inputCost": 0,
            "sum_outputCost": 0,
            "max_latency": pytest.approx(3000),
            "max_timeToFirstToken": None,
            "max_streamingLatency": None,
        },
    ]


def test_numeric_and_categorical_scores(client: Client, acme: Tenant, data: None) -> None:
    rows = metrics(
        client,
        acme,
        view="scores-numeric",
        dimensions=[{"field": "name"}],
        metrics=[COUNT, {"measure": "value", "aggregation": "avg"}],
        orderBy=[{"field": "name", "direction": "asc"}],
    )
    assert rows == [
        {"name": "accuracy", "count_count": 1, "avg_value": pytest.approx(0.9)},
        {"name": "resolved", "count_count": 1, "avg_value": 1.0},
        {"name": "thumbs", "count_count": 1, "avg_value": 1.0},
    ]
    categorical = metrics(
        client,
        acme,
        view="scores-categorical",
        dimensions=[{"field": "stringValue"}, {"field": "name"}],
        metrics=[COUNT],
    )
    assert categorical == [{"stringValue": "friendly", "name": "tone", "count_count": 1}]


# --- Dimensions ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("view", "field", "expected"),
    [
        ("traces", "name", {"chat": 2, "search": 1}),
        ("traces", "userId", {"u1": 2, "u2": 1}),
        ("traces", "sessionId", {"s1": 2, None: 1}),
        ("traces", "environment", {"production": 2, "dev": 1}),
        ("traces", "release", {"r1": 1, None: 2}),
        ("traces", "version", {"v1": 1, None: 2}),
        ("traces", "tags", {"a": 2, "b": 1}),  # one row per tag; t-old has none
        ("traces", "timestampMonth", {"2026-03": 3}),
        ("traces", "timestampDay", {"2026-03-09": 1, "2026-03-10": 2}),
        ("observations", "type", {"SPAN": 1, "GENERATION": 3, "EVENT": 1}),
        ("observations", "name", {"root": 1, "llm": 2, "boom": 1, None: 1}),
        ("observations", "level", {"DEFAULT": 4, "ERROR": 1}),
        ("observations", "providedModelName", {"gpt-4o": 2, "gpt-4o-mini": 1, None: 2}),
        ("observations", "promptName", {"support": 1, None: 4}),
        ("observations", "promptVersion", {2: 1, None: 4}),
        ("observations", "isRootObservation", {True: 3, False: 2}),
        ("observations", "traceName", {"chat": 4, "search": 1}),
        ("observations", "userId", {"u1": 4, "u2": 1}),
        ("observations", "sessionId", {"s1": 4, None: 1}),
        ("observations", "release", {"r1": 3, None: 2}),
        ("observations", "traceVersion", {"v1": 3, None: 2}),
        ("observations", "tags", {"a": 4, "b": 3}),
        ("scores-numeric", "scoreName", {"accuracy": 1, "thumbs": 1, "resolved": 1}),
        ("scores-numeric", "dataType", {"NUMERIC": 2, "BOOLEAN": 1}),
        ("scores-numeric", "source", {"API": 3}),
        ("scores-numeric", "userId", {"u1": 2, None: 1}),
        ("scores-numeric", "sessionId", {"s1": 3}),  # the session's own score and its traces' scores
        ("scores-numeric", "observationName", {"llm": 1, None: 2}),
        ("scores-numeric", "value", {0.9: 1, 1.0: 2}),
        ("scores-categorical", "traceName", {"search": 1}),
    ],
)
def test_dimensions(client: Client, acme: Tenant, data: None, view: str, field: str, expected: dict) -> None:
    rows = metrics(client, acme, view=view, dimensions=[{"field": field}], metrics=[COUNT])
    assert counts(rows, field) == expected
    assert len(rows) == len(expected)


# --- Filters ---------------------------------------------------------------------------------------


def _f(column: str, type_: str, operator: str, value: Any = "", **extra: Any) -> dict[str, Any]:
    return {"column": column, "type": type_, "operator": operator, "value": value, **extra}


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (_f("name", "string", "=", "chat"), {"t-chat", "t-old"}),
        (_f("name", "string", "!=", "chat"), {"t-search"}),
        (_f("name", "string", "<>", "chat"), {"t-search"}),
        (_f("name", "string", "contains", "EAR"), {"t-search"}),  # case-insensitive
        (_f("name", "string", "does not contain", "at"), {"t-search"}),
        (_f("name", "string", "starts with", "se"), {"t-search"}),
        (_f("name", "string", "ends with", "at"), {"t-chat", "t-old"}),
        (_f("name", "string", "contains", "%"), set()),  # a literal %, not a wildcard
        (_f("version", "string", "=", "v1"), {"t-chat"}),
        (_f("release", "string", "!=", "r1"), {"t-search", "t-old"}),  # rows without a release are kept
        (_f("userId", "stringOptions", "any of", ["u2", "nobody"]), {"t-search"}),
        (_f("userId", "stringOptions", "in", ["u2"]), {"t-search"}),
        (_f("userId", "stringOptions", "none of", ["u1"]), {"t-search"}),
        (_f("sessionId", "stringOptions", "none of", ["s1"]), {"t-old"}),
        (_f("environment", "categoryOptions", "any of", ["dev"]), {"t-search"}),
        (_f("tags", "arrayOptions", "any of", ["b", "zz"]), {"t-chat"}),
        (_f("tags", "arrayOptions", "all of", ["a", "b"]), {"t-chat"}),
        (_f("tags", "arrayOptions", "none of", ["b"]), {"t-search", "t-old"}),
        (_f("release", "null", "is null"), {"t-search", "t-old"}),
        (_f("release", "null", "is not null"), {"t-chat"}),
        (_f("tags", "null", "is null"), {"t-old"}),
        (_f("timestamp", "datetime", ">", "2026-03-10T12:00:00Z"), {"t-search"}),
        (_f("timestamp", "datetime", ">=", "2026-03-10T12:00:00Z"), {"t-chat", "t-search"}),
        (_f("timestamp", "datetime", "<", "2026-03-10T12:00:00Z"), {"t-old"}),
        (_f("timestamp", "datetime", "<=", "2026-03-10T13:00:00+01:00"), {"t-old", "t-chat"}),
        (_f("metadata", "stringObject", "=", "gold", key="tier"), {"t-chat"}),
        (_f("metadata", "stringObject", "contains", "OL", key="tier"), {"t-chat"}),
        (_f("metadata", "stringObject", "=", "gold", key="nope"), set()),
        (_f("traceName", "string", "=", "search"), {"t-search"}),  # Langfuse's name for the trace's own name
    ],
)
def test_trace_filters(client: Client, acme: Tenant, data: None, item: dict, expected: set[str]) -> None:
    assert ids(client, acme, "traces", item) == expected


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (_f("value", "number", ">", 0.95), {"sc-bool", "sc-session"}),
        (_f("value", "number", "<", 0.95), {"sc-num"}),
        (_f("value", "number", ">=", 1), {"sc-bool", "sc-session"}),
        (_f("value", "number", "<=", 0.9), {"sc-num"}),
        (_f("value", "number", "=", 0.9), {"sc-num"}),
        (_f("value", "number", "!=", 0.9), {"sc-bool", "sc-session"}),
        (_f("scoreName", "string", "=", "thumbs"), {"sc-bool"}),
        (_f("traceName", "string", "=", "chat"), {"sc-num", "sc-bool"}),
        (_f("observationModelName", "string", "=", "gpt-4o"), {"sc-bool"}),
    ],
)
def test_score_filters(client: Client, acme: Tenant, data: None, item: dict, expected: set[str]) -> None:
    assert ids(client, acme, "scores-numeric", item) == expected


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (_f("isRootObservation", "boolean", "=", True), {"o-root", "o-search", "o-old"}),
        (_f("isRootObservation", "boolean", "<>", True), {"o-gen", "o-err"}),
        (_f("isRootObservation", "boolean", "!=", False), {"o-root", "o-search", "o-old"}),
        (_f("promptVersion", "number", "=", 2), {"o-gen"}),
        (_f("level", "stringOptions", "any of", ["ERROR", "WARNING"]), {"o-err"}),
        (_f("userId", "string", "=", "u2"), {"o-search"}),
        (_f("tags", "arrayOptions", "all of", ["b"]), {"o-root", "o-gen", "o-err"}),
        (_f("start_time", "datetime", ">=", "2026-03-10T12:00:01Z"), {"o-err", "o-search"}),
        (_f("startTime", "datetime", "<", "2026-03-10T12:00:00.100Z"), {"o-root", "o-old"}),
        (_f("observationName", "string", "=", "llm"), {"o-gen", "o-search"}),  # the observation's own name
    ],
)
def test_observation_filters(client: Client, acme: Tenant, data: None, item: dict, expected: set[str]) -> None:
    assert ids(client, acme, "observations", item) == expected


def test_filters_combine_and_the_time_range_is_inclusive(client: Client, acme: Tenant, data: None) -> None:
    both = [_f("userId", "string", "=", "u1"), _f("environment", "string", "=", "production")]
    assert ids(client, acme, "traces", *both) == {"t-chat", "t-old"}
    exact = {"fromTimestamp": "2026-03-10T12:00:00Z", "toTimestamp": "2026-03-10T13:00:00Z"}
    rows = metrics(client, acme, view="traces", dimensions=[{"field": "id"}], metrics=[COUNT], **exact)
    assert {row["id"] for row in rows} == {"t-chat", "t-search"}


# --- Time, order and limit -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("granularity", "window", "expected"),
    [
        ("day", RANGE, [("2026-03-09T00:00:00Z", 1), ("2026-03-10T00:00:00Z", 2)]),
        ("hour", ONE_DAY, [("2026-03-10T12:00:00Z", 1), ("2026-03-10T13:00:00Z", 1)]),
        ("minute", ONE_DAY, [("2026-03-10T12:00:00Z", 1), ("2026-03-10T13:00:00Z", 1)]),
        ("week", RANGE, [("2026-03-09T00:00:00Z", 3)]),  # weeks start on Monday, 9 March 2026
        ("month", RANGE, [("2026-03-01T00:00:00Z", 3)]),
        # auto: about 50 buckets, so hours over two days and minutes over one hour
        ("auto", RANGE, [("2026-03-09T12:00:00Z", 1), ("2026-03-10T12:00:00Z", 1), ("2026-03-10T13:00:00Z", 1)]),
        (
            "auto",
            {"fromTimestamp": "2026-03-10T11:30:00Z", "toTimestamp": "2026-03-10T12:30:00Z"},
            [("2026-03-10T12:00:00Z", 1)],
        ),
    ],
)
def test_time_dimension(
    client: Client, acme: Tenant, data: None, granularity: str, window: dict, expected: list
) -> None:
    rows = metrics(client, acme, view="traces", metrics=[COUNT], timeDimension={"granularity": granularity}, **window)
    assert [(row["time_dimension"], row["count_count"]) for row in rows] == expected  # oldest first


def test_time_dimension_with_dimensions_order_and_limit(client: Client, acme: Tenant, data: None) -> None:
    common = {
        "view": "traces",
        "dimensions": [{"field": "name"}],
        "metrics": [COUNT, {"measure": "totalTokens", "aggregation": "sum"}],
        "timeDimension": {"granularity": "day"},
    }
    rows = metrics(client, acme, **common)
    assert [(r["time_dimension"][:10], r["name"], r["count_count"]) for r in rows] == [
        ("2026-03-09", "chat", 1),
        ("2026-03-10", "chat", 1),
        ("2026-03-10", "search", 1),
    ]
    newest = metrics(
        client,
        acme,
        **common,
        orderBy=[{"field": "time_dimension", "direction": "desc"}, {"field": "sum_totalTokens", "direction": "desc"}],
        config={"row_limit": 2},
    )
    assert [(r["time_dimension"][:10], r["name"], r["sum_totalTokens"]) for r in newest] == [
        ("2026-03-10", "search", 150),
        ("2026-03-10", "chat", 15),
    ]


def test_order_by_and_row_limit(client: Client, acme: Tenant, data: None) -> None:
    by_name = {"view": "traces", "dimensions": [{"field": "name"}], "metrics": [COUNT]}
    assert [r["name"] for r in metrics(client, acme, **by_name, orderBy=[{"field": "name", "direction": "desc"}])] == [
        "search",
        "chat",
    ]
    fewest = metrics(client, acme, **by_name, orderBy=[{"field": "count_count", "direction": "asc"}])
    assert [r["name"] for r in fewest] == ["search", "chat"]
    assert metrics(client, acme, **by_name, config={"row_limit": 1}) == [{"name": "chat", "count_count": 2}]
    assert len(metrics(client, acme, **by_name, chartConfig={"type": "table", "row_limit": 1})) == 1


def test_no_rows_still_answers_one_total(client: Client, acme: Tenant, data: None) -> None:
    empty = {"fromTimestamp": "2020-01-01T00:00:00Z", "toTimestamp": "2020-01-02T00:00:00Z"}
    totals = [COUNT, {"measure": "totalCost", "aggregation": "sum"}, {"measure": "latency", "aggregation": "avg"}]
    assert metrics(client, acme, view="traces", metrics=totals, **empty) == [
        {"count_count": 0, "sum_totalCost": 0, "avg_latency": None}
    ]
    assert metrics(client, acme, view="traces", dimensions=[{"field": "name"}], metrics=[COUNT], **empty) == []


def test_the_readme_example_answers_what_the_readme_says(client: Client, acme: Tenant, data: None) -> None:
    query = readme_block("metrics-query")
    response = get(client, acme, V2, query=query)
    assert response.status_code == 200, response.content
    assert response.json() == json.loads(readme_block("metrics-reply"))


# --- v2 --------------------------------------------------------------------------------------------


def test_v2_has_the_same_views_but_traces_and_refuses_grouping_by_ids(client: Client, acme: Tenant, data: None) -> None:
    by_type = {"view": "observations", "dimensions": [{"field": "type"}], "metrics": [COUNT]}
    assert metrics(client, acme, V2, **by_type) == metrics(client, acme, V1, **by_type)
    only_u2 = metrics(client, acme, V2, **by_type, filters=[_f("userId", "string", "=", "u2")])
    assert only_u2 == [{"type": "GENERATION", "count_count": 1}]
    scores = metrics(client, acme, V2, view="scores-numeric", metrics=[{"measure": "value", "aggregation": "max"}])
    assert scores == [{"max_value": 1.0}]

    def bad(query: dict[str, Any], field: str) -> None:
        assert_error(get(client, acme, V2, query=json.dumps({**RANGE, **query})), 400, field)

    bad({"view": "traces", "metrics": [COUNT]}, "query.view")
    for high in ("userId", "sessionId", "traceId", "id", "parentObservationId"):
        bad({"view": "observations", "dimensions": [{"field": high}], "metrics": [COUNT]}, "query.dimensions[0].field")
    bad(
        {"view": "scores-numeric", "dimensions": [{"field": "observationId"}], "metrics": [COUNT]},
        "query.dimensions[0].field",
    )


# --- Queries, tenancy, errors ----------------------------------------------------------------------


def test_one_sql_query_per_request_whatever_the_rows(client: Client, acme: Tenant, data: None) -> None:
    query = json.dumps(
        {
            **RANGE,
            "view": "scores-numeric",
            "dimensions": [{"field": "traceName"}, {"field": "observationName"}],
            "metrics": [COUNT, {"measure": "value", "aggregation": "p95"}],
            "filters": [_f("tags", "arrayOptions", "any of", ["a"]), _f("metadata", "stringObject", "=", "x", key="k")],
            "timeDimension": {"granularity": "hour"},
        }
    )

    def data_queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert get(client, acme, V1, query=query).status_code == 200
        return sum("traces_" in q["sql"] for q in captured.captured_queries)

    data_queries()  # the key's first use is cached from here on
    assert data_queries() == 1
    trace_batch_write(
        project_id=acme.project.pk,
        traces=[TraceIn(id=f"bulk-{i}", timestamp=DAY, name=f"n{i}", tags=["a"]) for i in range(30)],
        scores=[ScoreIn(id=f"bulk-s-{i}", name="n", timestamp=DAY, value=i, trace_id=f"bulk-{i}") for i in range(30)],
    )
    assert data_queries() == 1


def _query(**changes: Any) -> str:
    query = {**RANGE, "view": "traces", "metrics": [COUNT], **changes}
    return json.dumps({key: value for key, value in query.items() if value is not None})


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (None, "query"),
        ("", "query"),
        ("{not json", "query"),
        ("[1, 2]", "query"),
        ("a\x00b", "query"),
        (_query(page=2), "query.page"),
        (_query(view=None), "query.view"),
        (_query(view="sessions"), "query.view"),
        (_query(view=7), "query.view"),
        (_query(metrics=None), "query.metrics"),
        (_query(metrics=[]), "query.metrics"),
        (_query(metrics={"measure": "count"}), "query.metrics"),
        (_query(metrics=[{"measure": "cost", "aggregation": "sum"}]), "query.metrics[0].measure"),
        (_query(metrics=[{"measure": "value", "aggregation": "avg"}]), "query.metrics[0].measure"),
        (_query(metrics=[{"measure": "latency", "aggregation": "histogram"}]), "query.metrics[0].aggregation"),
        (_query(metrics=[{"measure": "latency"}]), "query.metrics[0].aggregation"),
        (_query(metrics=[COUNT, COUNT]), "query.metrics[1]"),
        (_query(metrics=[{**COUNT, "alias": "n"}]), "query.metrics[0].alias"),
        (_query(dimensions={"field": "name"}), "query.dimensions"),
        (_query(dimensions=["name"]), "query.dimensions[0]"),
        (_query(dimensions=[{"field": "model"}]), "query.dimensions[0].field"),
        (_query(dimensions=[{"field": "name"}, {"field": "name"}]), "query.dimensions[1].field"),
        (
            _query(dimensions=[{"field": f} for f in ("name", "userId", "release", "version", "tags", "id")]),
            "query.dimensions",
        ),
        (_query(filters=[_f("cost", "number", ">", 1)]), "query.filters[0].column"),
        (_query(filters=[_f("userName", "string", "=", "chat")]), "query.filters[0].column"),  # not the trace's name
        (_query(filters=[_f("observationName", "string", "=", "x")]), "query.filters[0].column"),
        (_query(view="scores-numeric", filters=[_f("", "string", "=", "x")]), "query.filters[0].column"),
        (_query(filters=[_f("name", "regex", "=", "x")]), "query.filters[0].type"),
        (_query(filters=[_f("name", "string", ">", "x")]), "query.filters[0].operator"),
        (_query(filters=[_f("name", "number", "=", 1)]), "query.filters[0].type"),
        (_query(filters=[_f("tags", "string", "=", "a")]), "query.filters[0].type"),
        (_query(filters=[_f("timestamp", "string", "=", "x")]), "query.filters[0].type"),
        (_query(filters=[_f("metadata", "string", "=", "x")]), "query.filters[0].type"),
        (_query(filters=[_f("metadata", "stringObject", "=", "x")]), "query.filters[0].key"),
        (_query(filters=[_f("name", "string", "=", 7)]), "query.filters[0].value"),
        (_query(filters=[_f("name", "string", "=", "a\x00")]), "query.filters[0].value"),
        (_query(filters=[_f("name", "string", "=", "\ud800")]), "query.filters[0].value"),
        (_query(filters=[_f("name", "stringOptions", "any of", [])]), "query.filters[0].value"),
        (_query(filters=[_f("name", "stringOptions", "any of", "chat")]), "query.filters[0].value"),
        (_query(filters=[_f("name", "stringOptions", "any of", ["x"] * 101)]), "query.filters[0].value"),
        (_query(filters=[_f("timestamp", "datetime", ">", "yesterday")]), "query.filters[0].value"),
        (_query(filters=[_f("timestamp", "datetime", "=", "2026-03-10T00:00:00Z")]), "query.filters[0].operator"),
        (_query(filters=[{"column": "name", "type": "string", "operator": "="}]), "query.filters[0].value"),
        (_query(filters=[{**_f("name", "string", "=", "x"), "negate": True}]), "query.filters[0].negate"),
        (_query(filters=[_f("name", "string", "=", "x")] * 31), "query.filters"),
        (_query(fromTimestamp=None), "query.fromTimestamp"),
        (_query(fromTimestamp="last week"), "query.fromTimestamp"),
        (_query(toTimestamp=20260310), "query.toTimestamp"),
        (_query(toTimestamp=RANGE["fromTimestamp"]), "query.toTimestamp"),
        (_query(timeDimension={"granularity": "year"}), "query.timeDimension.granularity"),
        (_query(timeDimension="day"), "query.timeDimension"),
        (_query(orderBy=[{"field": "cost", "direction": "asc"}]), "query.orderBy[0].field"),
        (_query(orderBy=[{"field": "time_dimension", "direction": "asc"}]), "query.orderBy[0].field"),
        (_query(orderBy=[{"field": "count_count", "direction": "up"}]), "query.orderBy[0].direction"),
        (_query(config={"row_limit": 0}), "query.config.row_limit"),
        (_query(config={"row_limit": 1001}), "query.config.row_limit"),
        (_query(config={"row_limit": "10"}), "query.config.row_limit"),
        (_query(config={"row_limit": True}), "query.config.row_limit"),
        (_query(chartConfig={"row_limit": 0}), "query.chartConfig.row_limit"),
        (_query(config=[]), "query.config"),  # not an object, though empty
        (_query(config=0), "query.config"),
        ('{"view": ' * 5000, "query"),
    ],
)
def test_bad_queries_are_400_naming_the_field(client: Client, acme: Tenant, raw: str | None, field: str) -> None:
    params = {} if raw is None else {"query": raw}
    assert_error(get(client, acme, V1, **params), 400, field)


def test_a_number_filter_needs_a_finite_number(client: Client, acme: Tenant) -> None:
    for value in ("1", True, None):
        query = _query(view="scores-numeric", filters=[_f("value", "number", ">", value)])
        assert_error(get(client, acme, V1, query=query), 400, "query.filters[0].value")
    huge = _query(view="scores-numeric", filters=[_f("value", "number", ">", 0)]).replace(
        '"value": 0}', '"value": 1e999}'
    )
    assert "1e999" in huge  # JSON's way to write a number too large for a float
    assert_error(get(client, acme, V1, query=huge), 400, "query.filters[0].value")


def test_without_a_key_pair_it_is_401(client: Client) -> None:
    assert_error(get(client, None, V1, query=_query()), 401)
    assert_error(get(client, None, V2, query=_query(view="observations")), 401)
