"""The Langfuse SDKs' read helpers against a live Sightline: v4's `langfuse.api` (traces, observations v1/v2,
scores v2, sessions, score configs, deletes) in this process, and v5's (observations v2, scores v3, score
configs, trace delete) in its own venv (see test_sdk_langfuse_v5.py). Every answer must parse into the SDKs'
strict pydantic models, including a trace that carries browser feedback (source FEEDBACK)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Tenant
from tests.test_public_api import seed
from tests.test_sdk_langfuse_v5 import RUN_TIMEOUT, SDK_DIR, client_env, langfuse5_python  # noqa: F401 - fixture
from traces.models import Trace
from traces.services import feedback_record

# Generation tokens per model and day over the seed's two days (tests/test_public_api.py `seed`).
METRICS_V2_QUERY = {
    "view": "observations",
    "dimensions": [{"field": "providedModelName"}],
    "metrics": [{"measure": "totalTokens", "aggregation": "sum"}],
    "filters": [{"column": "type", "operator": "=", "value": "GENERATION", "type": "string"}],
    "timeDimension": {"granularity": "day"},
    "fromTimestamp": "2026-03-09T00:00:00Z",
    "toTimestamp": "2026-03-11T00:00:00Z",
}
# The browser feedback of `_feedback` (a thumbs-down, stored now) among the numeric scores, by source.
FEEDBACK_METRICS_QUERY = {
    "view": "scores-numeric",
    "dimensions": [{"field": "source"}],
    "metrics": [{"measure": "count", "aggregation": "count"}, {"measure": "value", "aggregation": "avg"}],
    "filters": [{"column": "source", "operator": "any of", "value": ["FEEDBACK"], "type": "stringOptions"}],
    "fromTimestamp": "2000-01-01T00:00:00Z",
    "toTimestamp": "2100-01-01T00:00:00Z",
}


def _feedback(tenant: Tenant) -> str:
    score = feedback_record(
        project_id=tenant.project.pk, score_id="fb-1", trace_id="t-chat", observation_id=None, value=0.0, comment="no"
    )
    return score.id


@pytest.mark.django_db(transaction=True)
def test_langfuse_v4_read_helpers(live_server: Any, acme: Tenant, globex: Tenant) -> None:
    from langfuse import Langfuse
    from langfuse.api import NotFoundError
    from langfuse.api.commons.types import ObservationsView, ScoreConfig, SessionWithTraces, TraceWithFullDetails
    from langfuse.api.commons.types.score import Score_Categorical
    from langfuse.api.commons.types.score_v1 import ScoreV1_Boolean, ScoreV1_Numeric
    from langfuse.api.core.api_error import ApiError
    from langfuse.api.legacy.metrics_v1.types import MetricsResponse
    from langfuse.api.metrics.types import MetricsV2Response
    from langfuse.api.scores.types.get_scores_response_data import GetScoresResponseData_Boolean

    seed(acme)
    _feedback(acme)
    langfuse = Langfuse(
        public_key=acme.public_key, secret_key=acme.secret_key, host=live_server.url, tracing_enabled=False
    )
    api = langfuse.api
    try:
        trace = api.trace.get("t-chat")
        assert isinstance(trace, TraceWithFullDetails)
        assert (trace.name, trace.user_id, trace.session_id, trace.tags) == ("chat", "u1", "s1", ["a", "b"])
        assert [o.id for o in trace.observations] == ["o-root", "o-gen", "o-err"]
        generation = trace.observations[1]
        assert isinstance(generation, ObservationsView)
        assert generation.usage.input == 10 and generation.usage_details == {"input": 10, "output": 5, "total": 15}
        assert generation.prompt_name == "support" and generation.time_to_first_token == pytest.approx(0.3)
        scores = {s.id: s for s in trace.scores}
        assert isinstance(scores["sc-num"], ScoreV1_Numeric) and scores["sc-num"].value == 0.9
        feedback = scores["fb-1"]
        assert isinstance(feedback, ScoreV1_Boolean) and feedback.value == 0 and feedback.comment == "no"
        assert trace.total_cost == pytest.approx(0.003) and trace.latency == 2.0

        listed = api.trace.list(user_id="u1", order_by="timestamp.asc", limit=1)
        assert listed.meta.total_items == 2 and listed.meta.total_pages == 2
        assert [t.id for t in listed.data] == ["t-old"]
        assert [t.id for t in api.trace.list(tags=["a", "b"]).data] == ["t-chat"]
        assert api.trace.list(user_id="u1").data[0].observations == ["o-root", "o-gen", "o-err"]

        v2 = api.observations.get_many(trace_id="t-chat", fields="core,basic,io,usage", limit=2)
        assert [o.id for o in v2.data] == ["o-err", "o-gen"] and v2.meta.cursor
        more = api.observations.get_many(trace_id="t-chat", cursor=v2.meta.cursor, limit=2)
        assert [o.id for o in more.data] == ["o-root"] and more.meta.cursor is None
        assert v2.data[1].usage_details["input"] == 10 and v2.data[1].input == [{"role": "user", "content": "hi"}]

        one = api.legacy.observations_v1.get("o-gen")
        assert isinstance(one, ObservationsView) and one.model == "gpt-4o"
        page = api.legacy.observations_v1.get_many(trace_id="t-chat", type="EVENT")
        assert [o.id for o in page.data] == ["o-err"] and page.data[0].level == "ERROR"

        scores_v2 = api.scores.get_many(trace_id="t-chat")
        by_id = {s.id: s for s in scores_v2.data}
        assert set(by_id) == {"sc-num", "sc-bool", "fb-1"}
        assert isinstance(by_id["sc-bool"], GetScoresResponseData_Boolean) and by_id["sc-bool"].string_value == "True"
        assert by_id["fb-1"].trace.user_id == "u1"
        tone = api.scores.get_by_id("sc-cat")
        assert isinstance(tone, Score_Categorical) and tone.string_value == "friendly"

        sessions = api.sessions.list()
        assert [s.id for s in sessions.data] == ["s1"]
        session = api.sessions.get("s1")
        assert isinstance(session, SessionWithTraces) and [t.id for t in session.traces] == ["t-chat", "t-search"]

        config = api.score_configs.create(
            name="correct",
            data_type="CATEGORICAL",
            categories=[{"label": "yes", "value": 1}, {"label": "no", "value": 0}],
        )
        assert isinstance(config, ScoreConfig) and [c.label for c in config.categories] == ["yes", "no"]
        assert api.score_configs.get_by_id(config.id).name == "correct"
        assert api.score_configs.update(config.id, is_archived=True).is_archived is True
        assert [c.id for c in api.score_configs.get().data] == [config.id]

        # metrics queries: v1 (legacy, with the traces view) and v2 parse into the SDK's response models
        window = {"fromTimestamp": "2026-03-09T00:00:00Z", "toTimestamp": "2026-03-11T00:00:00Z"}
        count_and_cost = [{"measure": "count", "aggregation": "count"}, {"measure": "totalCost", "aggregation": "sum"}]
        by_name = api.legacy.metrics_v1.metrics(
            query=json.dumps({"view": "traces", "dimensions": [{"field": "name"}], "metrics": count_and_cost, **window})
        )
        assert isinstance(by_name, MetricsResponse)
        assert by_name.data == [
            {"name": "chat", "count_count": 2, "sum_totalCost": pytest.approx(0.003)},
            {"name": "search", "count_count": 1, "sum_totalCost": pytest.approx(0.01)},
        ]
        tokens = api.metrics.metrics(query=json.dumps(METRICS_V2_QUERY))
        assert isinstance(tokens, MetricsV2Response)
        assert [(r["time_dimension"], r["providedModelName"], r["sum_totalTokens"]) for r in tokens.data] == [
            ("2026-03-09T00:00:00Z", "gpt-4o", 0),
            ("2026-03-10T00:00:00Z", "gpt-4o", 15),
            ("2026-03-10T00:00:00Z", "gpt-4o-mini", 150),
        ]
        feedback_scores = api.legacy.metrics_v1.metrics(query=json.dumps(FEEDBACK_METRICS_QUERY))
        assert feedback_scores.data == [{"source": "FEEDBACK", "count_count": 1, "avg_value": 0.0}]
        with pytest.raises(ApiError) as refused:
            api.metrics.metrics(query=json.dumps({"view": "traces", "metrics": count_and_cost, **window}))
        assert refused.value.status_code == 400 and refused.value.body["field"] == "query.view"

        # deletes are done when answered: the next read finds nothing
        assert api.trace.delete("t-old").message
        with pytest.raises(NotFoundError):
            api.trace.get("t-old")
        api.trace.delete_multiple(trace_ids=["t-search", "g-none"])
        assert [t.id for t in api.trace.list().data] == ["t-chat"]
        api.legacy.score_v1.delete("sc-num")
        with pytest.raises(NotFoundError):
            api.scores.get_by_id("sc-num")

        # another project's trace is not found
        other = Trace.objects.create(project=globex.project, id="g-trace", timestamp=trace.timestamp)
        with pytest.raises(NotFoundError):
            api.trace.get(other.id)
    finally:
        langfuse.shutdown()


@pytest.mark.django_db(transaction=True)
def test_langfuse_v5_read_helpers(langfuse5_python: Path, live_server: Any, acme: Tenant) -> None:  # noqa: F811
    seed(acme)
    _feedback(acme)
    env = client_env(
        live_server.url,
        acme,
        SIGHTLINE_TRACE_ID="t-chat",
        SIGHTLINE_METRICS_QUERIES=json.dumps([METRICS_V2_QUERY, FEEDBACK_METRICS_QUERY]),
    )
    done = subprocess.run(
        [str(langfuse5_python), str(SDK_DIR / "langfuse5_read.py")],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        env=env,
        check=False,
    )
    assert done.returncode == 0, f"the v5 read client failed:\n{done.stdout}\n{done.stderr}"
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    observations = {o["id"]: o for o in seen["observations"]}
    assert list(observations) == ["o-err", "o-gen", "o-root"]
    assert observations["o-gen"]["model"] == "gpt-4o" and observations["o-gen"]["usage"]["output"] == 5
    assert observations["o-gen"]["parent"] == "o-root"
    scores = seen["scores"]
    assert scores["sc-num"] == {"type": "ScoreV3_Numeric", "value": 0.9, "source": "API", "subject": "trace"}
    assert scores["sc-bool"]["value"] is True and scores["sc-bool"]["subject"] == "observation"
    assert scores["fb-1"]["type"] == "ScoreV3_Boolean" and scores["fb-1"]["value"] is False
    assert seen["config"] == {"archived": True, "listed": ["helpfulness"]}
    assert seen["metrics"] == {
        "type": "MetricsV2Response",
        "tokens": [
            ["2026-03-09T00:00:00Z", "gpt-4o", 0],
            ["2026-03-10T00:00:00Z", "gpt-4o", 15],
            ["2026-03-10T00:00:00Z", "gpt-4o-mini", 150],
        ],
        "feedback": [{"source": "FEEDBACK", "count_count": 1, "avg_value": 0.0}],
    }
    assert seen["deleted"] and seen["after_delete"] == []
    assert not Trace.objects.filter(project_id=acme.project.pk, id="t-chat").exists()
