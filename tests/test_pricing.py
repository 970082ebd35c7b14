"""Model prices: built-ins, cost computation, overrides, effective dates, ingestion, recost, API and page."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from projects.models import AuditEvent
from tests.conftest import Tenant
from tests.test_ingest_otlp import post as otlp_post
from tests.test_ingest_otlp import request_of, sid, span, to_protobuf
from traces.models import ModelPrice, Observation, Trace
from traces.pricing import costs_compute, model_price_create
from traces.pricing_data import BUILTIN_PRICES, builtin_prices_load
from traces.services import ObservationIn, trace_batch_write

pytestmark = pytest.mark.django_db
T = datetime(2025, 8, 1, 12, tzinfo=UTC)
M = 1_000_000


@pytest.fixture(autouse=True)
def builtins(db: None) -> None:
    """The data migration's rows (re-loaded idempotently: a transactional test elsewhere may have flushed them)."""
    builtin_prices_load(ModelPrice)


def builtin(name: str) -> ModelPrice:
    return ModelPrice.objects.get(project=None, model_name=name)


def obs(oid: str = "o1", **kwargs: Any) -> ObservationIn:
    values: dict[str, Any] = {"id": oid, "trace_id": "t1", "start_time": T, "type": "GENERATION"}
    values.update(kwargs)
    return ObservationIn(**values)


def priced(project_id: int, **kwargs: Any) -> ObservationIn:
    row = obs(**kwargs)
    costs_compute(project_id=project_id, observations=[row])
    return row


def approx(cost: dict[str, float] | None) -> dict[str, Any]:
    return {k: pytest.approx(v, abs=1e-12) for k, v in (cost or {}).items()}


# --- built-ins and computation --------------------------------------------------------------------------


def test_builtins_are_loaded_by_the_migration_for_every_listed_model() -> None:
    names = set(ModelPrice.objects.filter(project=None).values_list("model_name", flat=True))
    assert {entry["model_name"] for entry in BUILTIN_PRICES} <= names
    assert builtin("gpt-4o-mini").prices == {"input": 1.5e-07, "cache_read": 7.5e-08, "output": 6e-07}
    assert builtin_prices_load(ModelPrice) == 0  # idempotent


def test_builtin_prices_gpt_4o_mini(acme: Tenant) -> None:
    row = priced(
        acme.project.pk, model="openai/gpt-4o-mini-2024-07-18", usage={"input": 1000, "output": 500, "total": 1500}
    )
    assert row.cost == approx({"input": 0.00015, "output": 0.0003, "total": 0.00045})
    assert row.cost_source == "computed" and row.price_id == builtin("gpt-4o-mini").pk
    assert row.total_cost == Decimal("0.00045")


def test_cached_and_reasoning_tokens_have_their_own_price_never_twice(acme: Tenant) -> None:
    # input excludes the cached tokens and output excludes reasoning (the normaliser's contract).
    usage = {"input": 700, "cache_read": 300, "cache_write": 0, "output": 200, "reasoning": 100, "total": 1300}
    row = priced(acme.project.pk, model="gpt-4o", usage=usage)
    expected = {
        "input": 700 * 2.5 / M,
        "cache_read": 300 * 1.25 / M,
        "output": 200 * 10 / M,
        "reasoning": 100 * 10 / M,  # OpenAI bills reasoning as output
    }
    assert row.cost == approx({**expected, "total": sum(expected.values())})

    claude = priced(
        acme.project.pk,
        model="claude-sonnet-4-5-20250929",
        usage={"input": 100, "cache_read": 1000, "cache_write": 200, "output": 50, "total": 1350},
    )
    expected = {
        "input": 100 * 3 / M,
        "cache_read": 1000 * 0.3 / M,
        "cache_write": 200 * 3.75 / M,
        "output": 50 * 15 / M,
    }
    assert claude.cost == approx({**expected, "total": sum(expected.values())})


def test_missing_cache_and_reasoning_prices_fall_back_to_input_and_output(acme: Tenant) -> None:
    model_price_create(
        project=acme.project,
        model_name="house-model",
        match_pattern="^house-model$",
        prices={"input": 1e-6, "output": 2e-6},
    )
    row = priced(
        acme.project.pk, model="house-model", usage={"input": 10, "cache_read": 5, "output": 3, "reasoning": 2}
    )
    assert row.cost == approx({"input": 1e-5, "cache_read": 5e-6, "output": 6e-6, "reasoning": 4e-6, "total": 2.5e-5})


def test_project_override_wins_over_builtin_only_in_its_project(acme: Tenant, globex: Tenant) -> None:
    override = model_price_create(
        project=acme.project,
        model_name="gpt-4o-mini",
        match_pattern=r"(?i)^gpt-4o-mini(-\d{4}-\d{2}-\d{2})?$",
        prices={"input": 1e-6, "output": 1e-6},
    )
    usage = {"input": 1000, "output": 1000}
    mine = priced(acme.project.pk, model="gpt-4o-mini-2024-07-18", usage=usage)
    theirs = priced(globex.project.pk, model="gpt-4o-mini-2024-07-18", usage=usage)
    assert mine.price_id == override.pk and mine.cost["total"] == pytest.approx(0.002)
    assert theirs.price_id == builtin("gpt-4o-mini").pk and theirs.cost["total"] == pytest.approx(0.00075)


def test_effective_dates_pick_the_newest_started_row(acme: Tenant) -> None:
    pattern = "^dated-model$"
    jan = model_price_create(
        project=acme.project,
        model_name="dated-model",
        match_pattern=pattern,
        prices={"input": 1e-6},
        effective_from=datetime(2025, 1, 1, tzinfo=UTC),
    )
    jun = model_price_create(
        project=acme.project,
        model_name="dated-model",
        match_pattern=pattern,
        prices={"input": 2e-6},
        effective_from=datetime(2025, 6, 1, tzinfo=UTC),
    )
    usage = {"input": 1000}
    before = priced(acme.project.pk, model="dated-model", usage=usage, start_time=datetime(2024, 12, 31, tzinfo=UTC))
    march = priced(acme.project.pk, model="dated-model", usage=usage, start_time=datetime(2025, 3, 1, tzinfo=UTC))
    july = priced(acme.project.pk, model="dated-model", usage=usage, start_time=datetime(2025, 7, 1, tzinfo=UTC))
    assert before.cost is None and before.cost_source is None
    assert (march.price_id, march.cost["total"]) == (jan.pk, pytest.approx(0.001))
    assert (july.price_id, july.cost["total"]) == (jun.pk, pytest.approx(0.002))


def test_provided_costs_are_kept(acme: Tenant) -> None:
    row = priced(
        acme.project.pk,
        model="gpt-4o",
        usage={"input": 1000, "output": 1000},
        cost={"total": 0.5},
        cost_source="provided",
    )
    assert row.cost == {"total": 0.5} and row.cost_source == "provided" and row.price_id is None


def test_observation_without_usage_or_known_model_stays_unpriced(acme: Tenant) -> None:
    no_usage = priced(acme.project.pk, model="gpt-4o")
    unknown = priced(acme.project.pk, model="my-finetune", usage={"input": 10, "output": 10})
    total_only = priced(acme.project.pk, model="gpt-4o", usage={"total": 100})
    for row in (no_usage, unknown, total_only):
        assert row.cost is None and row.cost_source is None and row.price_id is None and row.total_cost is None


# --- ingestion ------------------------------------------------------------------------------------------


def _gen_span(n: int, trace_id: str, **attrs: Any) -> dict[str, Any]:
    base = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini"}
    return span(sid(n), trace_id=trace_id, name=f"chat {n}", attrs={**base, **attrs})


def test_otlp_span_gets_computed_cost_and_trace_rollup(acme: Tenant, client: Client) -> None:
    trace_id = "a" * 32
    body = to_protobuf(
        request_of(
            _gen_span(1, trace_id, **{"gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 500}),
            _gen_span(2, trace_id, **{"gen_ai.usage.input_tokens": 10, "gen_ai.usage.cost": 0.25}),
            _gen_span(3, trace_id),  # no usage: stays unpriced
        )
    )
    assert otlp_post(client, acme, body).status_code == 200
    rows = {o.id: o for o in Observation.objects.filter(project_id=acme.project.pk)}
    computed, provided, bare = rows[sid(1)], rows[sid(2)], rows[sid(3)]
    assert computed.cost_source == "computed" and computed.price_id == builtin("gpt-4o-mini").pk
    assert computed.total_cost == Decimal("0.00045")
    assert provided.cost_source == "provided" and provided.total_cost == Decimal("0.25")
    assert bare.cost is None and bare.total_cost is None and bare.cost_source is None
    trace = Trace.objects.get(project_id=acme.project.pk, id=trace_id)
    assert trace.total_cost == Decimal("0.25045")


def _ingest(client: Client, tenant: Tenant, batch: dict) -> None:
    response = client.post(
        "/api/public/ingestion",
        data=json.dumps(batch),
        content_type="application/json",
        headers={"authorization": tenant.basic_auth},
    )
    assert response.status_code == 207, response.content


def test_langfuse_generation_gets_computed_cost(acme: Tenant, client: Client) -> None:
    body = {
        "id": "g1",
        "traceId": "lt",
        "startTime": "2025-08-01T12:00:00Z",
        "model": "claude-haiku-4-5",
        "usageDetails": {"input": 1000, "output": 100, "cache_read_input_tokens": 500},
    }
    batch = {"batch": [{"id": "e1", "type": "generation-create", "timestamp": "2025-08-01T12:00:00Z", "body": body}]}
    _ingest(client, acme, batch)
    row = Observation.objects.get(project_id=acme.project.pk, id="g1")
    assert row.cost_source == "computed" and row.price_id == builtin("claude-haiku-4-5").pk
    assert row.total_cost == Decimal("0.001550")  # 1000 x $1 + 100 x $5 + 500 x $0.10 per 1M


def test_a_create_and_its_update_in_one_batch_are_priced_as_one(acme: Tenant, client: Client) -> None:
    """The model comes with the create, the usage with the update: priced on the merged observation."""
    create = {"id": "g2", "traceId": "lt", "startTime": "2025-08-01T12:00:00Z", "model": "claude-haiku-4-5"}
    update = {"id": "g2", "traceId": "lt", "usageDetails": {"input": 1000, "output": 100}}
    batch = {
        "batch": [
            {"id": "e1", "type": "generation-create", "timestamp": "2025-08-01T12:00:00Z", "body": create},
            {"id": "e2", "type": "generation-update", "timestamp": "2025-08-01T12:00:01Z", "body": update},
        ]
    }
    _ingest(client, acme, batch)
    row = Observation.objects.get(project_id=acme.project.pk, id="g2")
    assert row.cost_source == "computed" and row.total_cost == Decimal("0.001500")  # 1000 x $1 + 100 x $5 per 1M


def test_pricing_reads_prices_once_per_change_not_per_batch(acme: Tenant, client: Client) -> None:
    def batch(n: int, base: int) -> bytes:
        spans = [
            _gen_span(
                base + i, f"{base + i // 10:032x}", **{"gen_ai.usage.input_tokens": 5, "gen_ai.usage.output_tokens": 1}
            )
            for i in range(n)
        ]
        return to_protobuf(request_of(*spans))

    def price_queries(n: int, base: int) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert otlp_post(client, acme, batch(n, base)).status_code == 200
        return sum("traces_modelprice" in q["sql"] for q in queries.captured_queries)

    assert otlp_post(client, acme, batch(1, 10_000)).status_code == 200  # warm-up: key lookup, price book
    assert [price_queries(10, 100), price_queries(300, 1000)] == [0, 0]
    assert Observation.objects.filter(project_id=acme.project.pk, cost_source="computed").count() == 311

    # A price edit is seen by the very next batch: one query reloads the book.
    house = model_price_create(
        project=acme.project, model_name="house", match_pattern=r"^gpt-4o-mini$", prices={"input": 1.0, "output": 1.0}
    )
    assert price_queries(1, 20_000) == 1
    assert Observation.objects.get(project_id=acme.project.pk, price_id=house.pk).total_cost == Decimal(6)
    assert price_queries(1, 30_000) == 0


# --- recost ---------------------------------------------------------------------------------------------


def test_recost_updates_computed_costs_and_traces_not_provided_ones(acme: Tenant, globex: Tenant) -> None:
    pid = acme.project.pk
    rows = [
        obs("c1", trace_id="t1", model="gpt-4o-mini", usage={"input": 1000, "output": 1000}),
        obs(
            "p1", trace_id="t1", model="gpt-4o-mini", usage={"input": 1000}, cost={"total": 1.0}, cost_source="provided"
        ),
        obs("u1", trace_id="t2", model="house-model", usage={"input": 1000}),  # no price yet
        obs(
            "x1", trace_id="t3", model="gpt-4o-mini", usage={"input": 1000}, start_time=datetime(2025, 9, 2, tzinfo=UTC)
        ),
    ]
    costs_compute(project_id=pid, observations=rows)
    trace_batch_write(project_id=pid, observations=rows)
    other = [obs("g1", trace_id="t1", model="gpt-4o-mini", usage={"input": 1000, "output": 1000})]
    costs_compute(project_id=globex.project.pk, observations=other)
    trace_batch_write(project_id=globex.project.pk, observations=other)
    assert Trace.objects.get(project_id=pid, id="t1").total_cost == Decimal("1.00075")

    model_price_create(
        project=acme.project,
        model_name="gpt-4o-mini",
        match_pattern="^gpt-4o-mini$",
        prices={"input": 1e-5, "output": 1e-5},
    )
    house = model_price_create(
        project=acme.project, model_name="house-model", match_pattern="^house", prices={"input": 2e-6}
    )
    out = _call("recost", "--from", "2025-08-01", "--to", "2025-08-31", "--batch-size", "2")
    assert "updated 2" in out and "scanned 3" in out  # c1 and u1 (p1 is provided; x1 is out of range)

    stored = {o.id: o for o in Observation.objects.filter(project_id=pid)}
    assert stored["c1"].total_cost == Decimal("0.02") and stored["c1"].cost_source == "computed"
    assert stored["p1"].total_cost == Decimal("1") and stored["p1"].cost == {"total": 1.0}
    assert stored["u1"].price_id == house.pk and stored["u1"].total_cost == Decimal("0.002")
    assert stored["x1"].total_cost == Decimal("0.00015")  # outside the range: untouched
    assert Trace.objects.get(project_id=pid, id="t1").total_cost == Decimal("1.02")
    assert Trace.objects.get(project_id=pid, id="t2").total_cost == Decimal("0.002")
    # globex has no override: its cost is recomputed to the same value.
    assert Observation.objects.get(project_id=globex.project.pk, id="g1").total_cost == Decimal("0.00075")


def test_recost_model_and_project_filters(acme: Tenant) -> None:
    pid = acme.project.pk
    rows = [
        obs("a", model="gpt-4o-mini-2024-07-18", usage={"input": 1000}),
        obs("b", model="gpt-4o", usage={"input": 1000}),
    ]
    costs_compute(project_id=pid, observations=rows)
    trace_batch_write(project_id=pid, observations=rows)
    model_price_create(
        project=acme.project, model_name="gpt-4o-mini", match_pattern="gpt-4o-mini", prices={"input": 1e-3}
    )
    model_price_create(project=acme.project, model_name="gpt-4o", match_pattern="^gpt-4o$", prices={"input": 1e-3})
    out = _call("recost", "--from", "2025-08-01", "--to", "2025-08-01", "--model", "gpt-4o-mini", "--project", str(pid))
    assert "updated 1" in out
    stored = {o.id: o.total_cost for o in Observation.objects.filter(project_id=pid)}
    assert stored == {"a": Decimal("1"), "b": Decimal("0.0025")}


def _call(*args: str) -> str:
    import io

    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


# --- API ------------------------------------------------------------------------------------------------


def _api(client: Client, tenant: Tenant | None, method: str, path: str, body: Any = None) -> Any:
    headers = {"authorization": tenant.basic_auth} if tenant else {}
    kwargs: dict[str, Any] = {"headers": headers}
    if body is not None:
        kwargs.update(data=json.dumps(body), content_type="application/json")
    return getattr(client, method)(path, **kwargs)


def test_api_list_create_get_delete_with_tenancy(acme: Tenant, globex: Tenant, client: Client) -> None:
    assert _api(client, None, "get", "/api/public/models").status_code == 401
    created = _api(
        client,
        acme,
        "post",
        "/api/public/models",
        {
            "modelName": "acme-gpt",
            "matchPattern": "(?i)^acme-gpt$",
            "startDate": "2025-01-01T00:00:00Z",
            "unit": "TOKENS",
            "inputPrice": 0.000001,
            "prices": {"output": 0.000002, "input_cached_tokens": {"price": 0.0000005}},
        },
    )
    assert created.status_code == 201, created.content
    model = created.json()
    assert model["modelName"] == "acme-gpt" and model["isLangfuseManaged"] is False
    assert model["inputPrice"] == 1e-6 and model["prices"]["cache_read"] == {"price": 5e-7}
    assert model["startDate"].startswith("2025-01-01")
    assert AuditEvent.objects.filter(action="model_price.create", project=acme.project, target="acme-gpt").exists()

    listing = _api(client, acme, "get", "/api/public/models?limit=100").json()
    names = {m["modelName"] for m in listing["data"]}
    assert {"acme-gpt", "gpt-4o-mini", "claude-sonnet-4-5"} <= names
    assert listing["meta"]["totalItems"] == len(BUILTIN_PRICES) + 1 and listing["meta"]["page"] == 1
    assert _api(client, acme, "get", "/api/public/models?limit=2&page=2").json()["meta"]["totalPages"] > 1
    globex_names = {m["modelName"] for m in _api(client, globex, "get", "/api/public/models?limit=100").json()["data"]}
    assert "acme-gpt" not in globex_names

    path = f"/api/public/models/{model['id']}"
    assert _api(client, acme, "get", path).json()["id"] == model["id"]
    assert _api(client, globex, "get", path).status_code == 404
    response = _api(client, globex, "delete", path)
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    builtin_path = f"/api/public/models/{builtin('gpt-4o').pk}"
    assert _api(client, acme, "get", builtin_path).json()["isLangfuseManaged"] is True
    assert _api(client, acme, "delete", builtin_path).status_code == 403
    assert _api(client, acme, "delete", path).status_code == 204
    assert not ModelPrice.objects.filter(pk=int(model["id"])).exists()
    assert AuditEvent.objects.filter(action="model_price.delete", project=acme.project).exists()
    assert _api(client, acme, "get", "/api/public/models/not-a-number").status_code == 404


def test_api_bad_input_is_400_naming_the_field(acme: Tenant, client: Client) -> None:
    def create(body: dict[str, Any]) -> Any:
        return _api(client, acme, "post", "/api/public/models", body)

    bad_regex = create({"modelName": "m", "matchPattern": "(?i)^m(", "inputPrice": 1e-6})
    assert bad_regex.status_code == 400 and bad_regex.json()["field"] == "matchPattern"
    assert bad_regex.json()["error"] == "bad_request"
    assert create({"matchPattern": "^m$", "inputPrice": 1e-6}).json()["field"] == "modelName"
    assert create({"modelName": "m", "matchPattern": "^m$"}).json()["field"] == "prices"
    assert create({"modelName": "m", "matchPattern": "^m$", "inputPrice": -1}).json()["field"] == "inputPrice"
    bad_date = create({"modelName": "m", "matchPattern": "^m$", "inputPrice": 1e-6, "startDate": "soon"})
    assert bad_date.json()["field"] == "startDate"
    assert create({"modelName": "m", "matchPattern": "^m$", "inputPrice": 1e-6}).status_code == 201
    assert create({"modelName": "m", "matchPattern": "^m$", "inputPrice": 1e-6}).status_code == 409


# --- settings page --------------------------------------------------------------------------------------


def test_models_page_renders_for_members_and_is_404_for_outsiders(
    acme: Tenant, alice_client: Client, bob_client: Client, charlie_client: Client
) -> None:
    url = f"/p/{acme.project.pk}/settings/models/"
    page = alice_client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Models &amp; prices" in html and "gpt-4o-mini" in html and "Add a project price" in html
    assert "$0.15" in html and "$0.6" in html
    bob_page = bob_client.get(url)
    assert bob_page.status_code == 200 and "Add a project price" not in bob_page.content.decode()
    assert charlie_client.get(url).status_code == 404
    searched = alice_client.get(url, {"q": "claude"}).content.decode()
    assert "claude-haiku-4-5" in searched and "gpt-4o-mini" not in searched
    table = alice_client.get(url, {"q": "gemini"}, headers={"HX-Request": "true", "HX-Target": "price-table"})
    fragment = table.content.decode()
    assert "gemini-2.5-pro" in fragment and "Add a project price" not in fragment and "<html" not in fragment


def test_models_page_admin_adds_and_deletes_members_cannot(
    acme: Tenant, alice_client: Client, bob_client: Client, charlie_client: Client
) -> None:
    url = f"/p/{acme.project.pk}/settings/models/"
    form = {"model_name": "gpt-4o", "match_pattern": "", "effective_from": "2025-02-01", "input": "2", "output": "8"}
    assert bob_client.post(url, form).status_code == 403
    assert charlie_client.post(url, form).status_code == 404
    assert alice_client.post(url, {**form, "match_pattern": "(unclosed"}).status_code == 200  # re-rendered with error
    response = alice_client.post(url, form)
    assert response.status_code == 302
    row = ModelPrice.objects.get(project=acme.project)
    assert row.match_pattern == "(?i)^gpt\\-4o$" and row.prices == {"input": 2e-6, "output": 8e-6}
    assert row.effective_from == datetime(2025, 2, 1, tzinfo=UTC)
    assert AuditEvent.objects.filter(action="model_price.create", actor__email="alice@example.com").exists()

    delete_url = f"/p/{acme.project.pk}/settings/models/{row.pk}/delete/"
    assert bob_client.post(delete_url).status_code == 403
    builtin_delete = f"/p/{acme.project.pk}/settings/models/{builtin('gpt-4o').pk}/delete/"
    assert alice_client.post(builtin_delete).status_code == 404
    assert alice_client.get(delete_url).status_code == 200  # the no-JS confirmation
    assert alice_client.post(delete_url).status_code == 302
    assert not ModelPrice.objects.filter(project=acme.project).exists()
    assert AuditEvent.objects.filter(action="model_price.delete", project=acme.project).exists()


# --- the playground's cost estimate ---------------------------------------------------------------------


def test_price_estimate_prices_tokens_at_the_projects_prices(
    acme: Tenant, globex: Tenant, bob_client: Client, charlie_client: Client
) -> None:
    model_price_create(
        project=acme.project,
        model_name="house-model",
        match_pattern="house-model",
        prices={"input": 1e-6, "output": 2e-6},
    )
    url = f"/p/{acme.project.pk}/prices/estimate"

    mine = bob_client.get(url, {"model": "house-model", "input": "1000", "output": "500"}).json()
    assert mine["cost"] == approx({"input": 0.001, "output": 0.001, "total": 0.002})
    assert mine["price"]["modelName"] == "house-model" and mine["price"]["project"] is True
    builtin_row = bob_client.get(url, {"model": "gpt-4o-mini", "input": "1000"}).json()
    assert builtin_row["price"] == {"id": builtin("gpt-4o-mini").pk, "modelName": "gpt-4o-mini", "project": False}
    assert bob_client.get(url, {"model": "no-such-model", "input": "5"}).json() == {
        "model": "no-such-model",
        "cost": None,
        "price": None,
    }
    # Bad counts name the parameter; another project's member gets a 404; the project price stays private.
    for bad in ("-1", "1.5", "²", "9" * 13):
        response = bob_client.get(url, {"model": "house-model", "input": bad})
        assert response.status_code == 400 and response.json()["field"] == "input"
    assert charlie_client.get(url, {"model": "house-model"}).status_code == 404
    theirs = charlie_client.get(f"/p/{globex.project.pk}/prices/estimate", {"model": "house-model", "input": "1"})
    assert theirs.json()["price"] is None
