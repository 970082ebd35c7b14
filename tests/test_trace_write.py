"""The bulk write step: any order, any number of times, the same final rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Model
from django.test.utils import CaptureQueriesContext

from tests.conftest import Tenant
from traces.models import Observation, Score, Session, Trace
from traces.services import ObservationIn, ScoreIn, TraceIn, trace_batch_write

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _obs(n: int, **extra: object) -> ObservationIn:
    return ObservationIn(
        id=f"o{n}",
        trace_id="t1",
        parent_id=None if n == 0 else "o0",
        start_time=T0 + timedelta(seconds=n),
        end_time=T0 + timedelta(seconds=n + 1),
        **extra,  # type: ignore[arg-type]
    )


def _snapshot(project_id: int) -> list[tuple]:
    """Every stored column except the bookkeeping timestamps, for traces, observations and scores."""

    def rows(model: type[Model]) -> list[tuple]:
        names = [f.attname for f in model._meta.concrete_fields if f.attname not in ("created_at", "updated_at")]
        return list(model.objects.filter(project_id=project_id).order_by("id").values_list(*names))

    return rows(Trace) + rows(Observation) + rows(Score)


def test_children_before_root_then_root_fills_the_placeholder(acme: Tenant) -> None:
    pid = acme.project.pk
    trace_batch_write(project_id=pid, observations=[_obs(2, usage={"input": 10, "output": 5}, cost={"total": 0.5})])
    placeholder = Trace.objects.get(project_id=pid, id="t1")
    assert placeholder.name is None and placeholder.observation_count == 1
    trace_batch_write(
        project_id=pid,
        traces=[TraceIn(id="t1", timestamp=T0, name="chat", user_id="u1", session_id="s1", tags=["a"])],
        observations=[_obs(0), _obs(1, level="ERROR", usage={"input": 1, "output": 1}, cost={"total": 0.25})],
    )
    trace = Trace.objects.get(project_id=pid, id="t1")
    assert (trace.name, trace.user_id, trace.session_id, trace.tags) == ("chat", "u1", "s1", ["a"])
    assert trace.observation_count == 3 and trace.error_count == 1
    assert trace.total_tokens == 17 and trace.total_cost == Decimal("0.75")
    assert trace.end_time == T0 + timedelta(seconds=3) and trace.latency_ms == 3000
    assert Session.objects.filter(project_id=pid, id="s1").exists()


def test_same_batch_twice_gives_the_same_rows(acme: Tenant) -> None:
    pid = acme.project.pk
    batch = {
        "traces": [TraceIn(id="t1", timestamp=T0, name="chat", metadata={"a": 1})],
        "observations": [_obs(0), _obs(1, usage={"input": 3, "output": 4}), _obs(1, name="late name")],
        "scores": [ScoreIn(id="sc1", name="quality", value=0.9, timestamp=T0, trace_id="t1")],
    }
    trace_batch_write(project_id=pid, **batch)
    first = _snapshot(pid)
    trace_batch_write(project_id=pid, **batch)
    assert _snapshot(pid) == first
    assert Observation.objects.get(project_id=pid, id="o1").name == "late name"


def test_update_merges_later_non_null_values_and_metadata(acme: Tenant) -> None:
    pid = acme.project.pk
    trace_batch_write(project_id=pid, traces=[TraceIn(id="t1", timestamp=T0, name="a", metadata={"x": 1}, tags=["p"])])
    trace_batch_write(
        project_id=pid, traces=[TraceIn(id="t1", timestamp=T0, output="done", metadata={"y": 2}, tags=["q"])]
    )
    trace = Trace.objects.get(project_id=pid, id="t1")
    assert (trace.name, trace.output, trace.metadata, trace.tags) == ("a", "done", {"x": 1, "y": 2}, ["p", "q"])


def test_projects_are_separate_even_with_equal_ids(acme: Tenant, globex: Tenant) -> None:
    trace_batch_write(project_id=acme.project.pk, traces=[TraceIn(id="t1", timestamp=T0, name="acme")])
    trace_batch_write(project_id=globex.project.pk, traces=[TraceIn(id="t1", timestamp=T0, name="globex")])
    assert Trace.objects.get(project_id=acme.project.pk, id="t1").name == "acme"
    assert Trace.objects.get(project_id=globex.project.pk, id="t1").name == "globex"


def test_statement_count_does_not_grow_with_rows(acme: Tenant) -> None:
    def statements(n: int) -> int:
        observations = [
            ObservationIn(id=f"n{n}-{i}", trace_id=f"n{n}-t{i % 7}", start_time=T0, usage={"input": 1})
            for i in range(n)
        ]
        traces = [TraceIn(id=f"n{n}-t{i}", timestamp=T0, session_id=f"s{i}") for i in range(7)]
        with CaptureQueriesContext(connection) as ctx:
            trace_batch_write(project_id=acme.project.pk, traces=traces, observations=observations)
        return len(ctx.captured_queries)

    assert statements(10) == statements(500)


def test_trace_timestamp_is_the_earliest_reported(acme: Tenant) -> None:
    pid = acme.project.pk
    trace_batch_write(project_id=pid, traces=[TraceIn(id="t1", timestamp=T0, name="root")])
    # A later child batch carrying trace-level attributes must not move the start later.
    trace_batch_write(project_id=pid, traces=[TraceIn(id="t1", timestamp=T0 + timedelta(seconds=9), user_id="u")])
    trace = Trace.objects.get(project_id=pid, id="t1")
    assert (trace.timestamp, trace.user_id, trace.name) == (T0, "u", "root")


def test_partial_update_never_resets_columns_to_defaults(acme: Tenant) -> None:
    pid = acme.project.pk
    trace_batch_write(
        project_id=pid,
        traces=[TraceIn(id="t1", timestamp=T0, environment="production", public=True)],
        observations=[_obs(0, type="GENERATION", level="ERROR", environment="production")],
    )
    # An update that names only its output (level, type, environment, public not sent).
    trace_batch_write(
        project_id=pid,
        traces=[TraceIn(id="t1", timestamp=T0, output="done")],
        observations=[ObservationIn(id="o0", trace_id="t1", start_time=T0 + timedelta(seconds=5), output="x")],
    )
    trace = Trace.objects.get(project_id=pid, id="t1")
    obs = Observation.objects.get(project_id=pid, id="o0")
    assert (trace.environment, trace.public, trace.output) == ("production", True, "done")
    assert (obs.type, obs.level, obs.environment, obs.output) == ("GENERATION", "ERROR", "production", "x")
    assert obs.start_time == T0  # the earliest report wins


def test_traces_delete_removes_trace_observations_scores_and_is_scoped(
    acme: Tenant, globex: Tenant, alice: object
) -> None:
    from projects.models import AuditEvent
    from traces.services import traces_delete

    for tenant in (acme, globex):
        trace_batch_write(
            project_id=tenant.project.id,
            traces=[TraceIn(id="t1", timestamp=T0, name="chat"), TraceIn(id="t2", timestamp=T0)],
            observations=[_obs(0), _obs(1)],
            scores=[ScoreIn(id="s1", name="q", value=1.0, trace_id="t1", timestamp=T0)],
        )

    assert traces_delete(project=acme.project, trace_ids=["t1", "t1"], actor=alice) == 1
    assert traces_delete(project=acme.project, trace_ids=["missing"], actor=alice) == 0

    assert list(Trace.objects.filter(project=acme.project).values_list("id", flat=True)) == ["t2"]
    assert not Observation.objects.filter(project=acme.project, trace_id="t1").exists()
    assert not Score.objects.filter(project=acme.project).exists()
    # The other tenant's rows with the same ids are untouched.
    assert Trace.objects.filter(project=globex.project).count() == 2
    assert Observation.objects.filter(project=globex.project).count() == 2
    assert Score.objects.filter(project=globex.project).count() == 1
    event = AuditEvent.objects.filter(action="traces.delete").earliest("id")
    assert (event.project, event.actor, event.target) == (acme.project, alice, "t1")


def test_a_session_starts_with_its_earliest_trace_and_keeps_its_environment(acme: Tenant) -> None:
    """The sessions list and API filter sessions by start time and environment: both come from the traces."""
    pid = acme.project.pk
    later = TraceIn(id="t-later", timestamp=T0 + timedelta(hours=1), session_id="s1", environment="staging")
    trace_batch_write(project_id=pid, traces=[later])
    session = Session.objects.get(project_id=pid, id="s1")
    assert (session.created_at, session.environment) == (later.timestamp, "staging")
    earlier = TraceIn(id="t-earlier", timestamp=T0, session_id="s1", environment="production")
    trace_batch_write(project_id=pid, traces=[earlier, TraceIn(id="t-none", timestamp=T0, session_id="s2")])
    session.refresh_from_db()
    assert (session.created_at, session.environment) == (T0, "staging")
    assert Session.objects.get(project_id=pid, id="s2").environment == "default"
    trace_batch_write(project_id=pid, traces=[later])  # a later trace again moves nothing
    session.refresh_from_db()
    assert session.created_at == T0


def test_one_batchs_rows_for_an_id_merge_by_the_column_rules(acme: Tenant) -> None:
    """Objects merge, the earliest start wins, a later non-null value wins: as the upsert merges with a
    stored row."""
    rows = [
        ObservationIn(id="o", trace_id="t", start_time=T0 + timedelta(seconds=5), name="first", metadata={"a": 1}),
        ObservationIn(id="o", trace_id="t", start_time=T0, metadata={"b": 2}, output="done"),
    ]
    trace_batch_write(project_id=acme.project.pk, observations=rows)
    stored = Observation.objects.get(project=acme.project, id="o")
    assert stored.metadata == {"a": 1, "b": 2} and stored.start_time == T0
    assert stored.name == "first" and stored.output == "done"
