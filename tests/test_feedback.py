"""`POST /api/public/feedback`: the public key alone (Basic `pk:`), stored as a FEEDBACK score, idempotent per
client id, CORS limited to the project's allowed origins, rate limits in Redis (429 + Retry-After), clear
400s; and a public key buys nothing else: every other endpoint refuses it."""

from __future__ import annotations

import base64
import json
import re
import uuid
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from projects.services import api_key_revoke
from tests.conftest import Tenant
from tests.test_public_api import assert_error
from traces.models import Score
from traces.services import TraceIn, trace_batch_write

pytestmark = pytest.mark.django_db
FEEDBACK = "/api/public/feedback"
APP = "https://app.example.com"


def pk_only(tenant: Tenant) -> str:
    return "Basic " + base64.b64encode(f"{tenant.public_key}:".encode()).decode()


def post(client: Client, auth: str | None, body: Any, *, origin: str | None = None, **extra: Any) -> Any:
    headers: dict[str, Any] = {"REMOTE_ADDR": extra.pop("address", "198.51.100.1"), **extra}
    if auth is not None:
        headers["HTTP_AUTHORIZATION"] = auth
    if origin is not None:
        headers["HTTP_ORIGIN"] = origin
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(FEEDBACK, data=data, content_type=headers.pop("content_type", "application/json"), **headers)


@pytest.fixture(autouse=True)
def generous_limits(settings: Any) -> None:
    """Tests share 127.0.0.1-style addresses; only the rate-limit tests lower the limits."""
    settings.FEEDBACK_RATE_LIMIT_PER_IP = 10_000
    settings.FEEDBACK_RATE_LIMIT_PER_KEY = 10_000


@pytest.fixture
def with_origin(acme: Tenant) -> Tenant:
    acme.project.allowed_origins = [APP]
    acme.project.save(update_fields=["allowed_origins"])
    return acme


def test_thumbs_down_with_the_public_key_alone_is_a_feedback_score(client: Client, acme: Tenant) -> None:
    response = post(client, pk_only(acme), {"traceId": "t-1", "observationId": "o-1", "value": 0, "comment": "wrong"})
    assert response.status_code == 200, response.content
    score = Score.objects.get(project_id=acme.project.pk, id=response.json()["id"])
    assert (score.name, score.source, score.data_type, score.value) == ("user-feedback", "FEEDBACK", "BOOLEAN", 0.0)
    assert (score.trace_id, score.observation_id, score.comment) == ("t-1", "o-1", "wrong")
    # and the read API shows it (source as Langfuse's enum knows it, the stored one beside it)
    read = client.get(f"/api/public/scores/{score.id}", HTTP_AUTHORIZATION=acme.basic_auth).json()
    assert (read["source"], read["sightlineSource"], read["stringValue"]) == ("API", "FEEDBACK", "False")
    assert (
        client.get("/api/public/scores", {"source": "FEEDBACK"}, HTTP_AUTHORIZATION=acme.basic_auth).json()["meta"][
            "totalItems"
        ]
        == 1
    )


def test_same_client_id_counts_once_and_a_changed_mind_wins(client: Client, acme: Tenant, globex: Tenant) -> None:
    body = {"traceId": "t-1", "value": 1, "id": "click-42"}
    first = post(client, pk_only(acme), body).json()["id"]
    again = post(client, pk_only(acme), body).json()["id"]
    changed = post(client, pk_only(acme), {**body, "value": 0, "comment": "on second thought"}).json()["id"]
    assert first == again == changed
    score = Score.objects.get(project_id=acme.project.pk)
    assert (score.value, score.comment) == (0.0, "on second thought")
    # the id is scoped by project: the same client id elsewhere is another score
    assert post(client, pk_only(globex), body).json()["id"] != first
    # without a client id, each request is its own feedback
    post(client, pk_only(acme), {"traceId": "t-1", "value": 1})
    post(client, pk_only(acme), {"traceId": "t-1", "value": 1})
    assert Score.objects.filter(project_id=acme.project.pk).count() == 3


def test_full_key_pair_also_works_but_a_wrong_secret_does_not(client: Client, acme: Tenant) -> None:
    assert post(client, acme.basic_auth, {"traceId": "t", "value": True}).status_code == 200
    wrong = "Basic " + base64.b64encode(f"{acme.public_key}:nope".encode()).decode()
    assert_error(post(client, wrong, {"traceId": "t", "value": 1}), 401)
    assert_error(post(client, None, {"traceId": "t", "value": 1}), 401)
    unknown = "Basic " + base64.b64encode(b"pk-unknown:").decode()
    assert_error(post(client, unknown, {"traceId": "t", "value": 1}), 401)


def test_revoked_public_key_is_refused(client: Client, acme: Tenant, alice: Any) -> None:
    from projects.models import ApiKey

    api_key_revoke(api_key=ApiKey.objects.get(public_key=acme.public_key), actor=alice)
    assert_error(post(client, pk_only(acme), {"traceId": "t", "value": 1}), 401)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"value": 1}, "traceId"),
        ({"traceId": "t"}, "value"),
        ({"traceId": "t", "value": 2}, "value"),
        ({"traceId": "t", "value": "1"}, "value"),
        ({"traceId": "t", "value": 0.5}, "value"),
        ({"traceId": "x" * 801, "value": 1}, "traceId"),
        ({"traceId": "t", "value": 1, "comment": "c" * 2001}, "comment"),
        ({"traceId": "t", "value": 1, "id": "i" * 201}, "id"),
        ({"traceId": "t\x00", "value": 1}, "traceId"),
    ],
)
def test_bad_feedback_is_a_400_naming_the_field(client: Client, acme: Tenant, body: dict, field: str) -> None:
    assert_error(post(client, pk_only(acme), body), 400, field)
    assert not Score.objects.exists()


def test_bad_bodies(client: Client, acme: Tenant, settings: Any) -> None:
    assert_error(post(client, pk_only(acme), "{not json"), 400)
    assert_error(post(client, pk_only(acme), [1, 2]), 400)
    assert_error(post(client, pk_only(acme), "traceId=t", content_type="text/plain"), 415)
    settings.FEEDBACK_MAX_BODY_BYTES = 64
    assert_error(post(client, pk_only(acme), {"traceId": "t", "value": 1, "comment": "x" * 100}), 413)
    assert_error(client.get(FEEDBACK, HTTP_AUTHORIZATION=pk_only(acme)), 405)


def test_feedback_reads_as_a_thumb_on_the_trace_page_its_panel_and_the_trace_list(
    client: Client, alice_client: Client, acme: Tenant
) -> None:
    """A thumbs-down from the widget is a BOOLEAN FEEDBACK score named user-feedback: people see 👎 Down, not False."""
    trace_batch_write(
        project_id=acme.project.pk,
        traces=[
            TraceIn(id="t-down", timestamp=acme.project.created_at, name="turn"),
            TraceIn(id="t-mixed", timestamp=acme.project.created_at, name="turn"),
        ],
    )
    assert post(client, pk_only(acme), {"traceId": "t-down", "value": 0, "comment": "wrong"}).status_code == 200
    for value in (1, 1, 0):
        assert post(client, pk_only(acme), {"traceId": "t-mixed", "value": value}).status_code == 200
    project_id = acme.project.pk

    page = alice_client.get(f"/p/{project_id}/trace/t-down").content.decode()
    chips = re.findall(r'class="[^"]*score-chip[^"]*"[^>]*>([^<]*)<', page)
    assert chips == ["user-feedback: 👎 Down"]
    panel = alice_client.get(f"/p/{project_id}/scores/panel", {"trace_id": "t-down"}, HTTP_HX_REQUEST="true")
    item = re.search(
        r'data-score-name="user-feedback">.*?class="score-value[^"]*"[^>]*>\s*([^<]*?)\s*<',
        panel.content.decode(),
        re.S,
    )
    assert item is not None and item.group(1) == "👎 Down"

    listing = alice_client.get(f"/p/{project_id}/traces/").content.decode()
    rows = dict(re.findall(r'href="/p/\d+/trace/(t-[a-z]+)".*?class="cell-scores">(.*?)</td>', listing, re.S))
    assert set(rows) == {"t-down", "t-mixed"}
    assert re.sub(r"<[^>]+>", "", rows["t-down"]).split() == ["user-feedback", "👎", "Down"]
    assert re.sub(r"<[^>]+>", "", rows["t-mixed"]).split() == ["user-feedback", "👍", "2", "·", "👎", "1"]


# --- CORS ------------------------------------------------------------------------------------------


def test_preflight_for_an_allowed_origin(client: Client, with_origin: Tenant) -> None:
    response = client.options(
        FEEDBACK,
        HTTP_ORIGIN=APP,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
    )
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == APP
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert {h.strip().lower() for h in response["Access-Control-Allow-Headers"].split(",")} >= {
        "authorization",
        "content-type",
    }
    assert response["Vary"] == "Origin"


def test_preflight_for_an_unknown_origin_gets_no_cors_headers(client: Client, with_origin: Tenant) -> None:
    response = client.options(FEEDBACK, HTTP_ORIGIN="https://evil.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert_error(response, 403)
    assert "Access-Control-Allow-Origin" not in response
    assert_error(client.options(FEEDBACK), 403)


def test_post_from_allowed_origin_carries_cors_headers(client: Client, with_origin: Tenant) -> None:
    response = post(client, pk_only(with_origin), {"traceId": "t", "value": 1}, origin=APP)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == APP
    bad = post(client, pk_only(with_origin), {"traceId": "t", "value": 7}, origin=APP)
    assert_error(bad, 400, "value")
    assert bad["Access-Control-Allow-Origin"] == APP  # the page can read why


def test_post_from_another_origin_is_403_and_stores_nothing(
    client: Client, with_origin: Tenant, globex: Tenant
) -> None:
    response = post(client, pk_only(with_origin), {"traceId": "t", "value": 1}, origin="https://evil.example")
    assert_error(response, 403)
    assert "Access-Control-Allow-Origin" not in response
    # an origin another project allows does not open this project
    globex.project.allowed_origins = ["https://globex.example"]
    globex.project.save(update_fields=["allowed_origins"])
    preflight = client.options(FEEDBACK, HTTP_ORIGIN="https://globex.example")
    assert preflight.status_code == 204
    response = post(client, pk_only(with_origin), {"traceId": "t", "value": 1}, origin="https://globex.example")
    assert_error(response, 403)
    # …though the page may read why (some project allows the origin: the preflight's rule)
    assert response["Access-Control-Allow-Origin"] == "https://globex.example"
    assert not Score.objects.exists()


# --- Rate limits -----------------------------------------------------------------------------------


def test_rate_limit_per_client_address(client: Client, acme: Tenant, globex: Tenant, settings: Any) -> None:
    settings.FEEDBACK_RATE_LIMIT_PER_IP = 2
    address = f"203.0.113.{uuid.uuid4().int % 250}"
    for tenant in (acme, globex):
        assert post(client, pk_only(tenant), {"traceId": "t", "value": 1}, address=address).status_code == 200
    limited = post(client, pk_only(acme), {"traceId": "t", "value": 1}, address=address)
    body = assert_error(limited, 429)
    assert "address" in body["message"]
    assert 1 <= int(limited["Retry-After"]) <= settings.FEEDBACK_RATE_LIMIT_WINDOW_SECONDS + 1
    # another address is not affected
    assert post(client, pk_only(acme), {"traceId": "t", "value": 1}, address="192.0.2.200").status_code == 200


def _exposed(response: Any) -> set[str]:
    return {name.strip().lower() for name in response.get("Access-Control-Expose-Headers", "").split(",")}


def test_refusals_before_the_origin_check_are_readable_by_an_allowed_origin(
    client: Client, with_origin: Tenant, settings: Any
) -> None:
    """The per-address limit and authentication answer before the project's origins are known; a browser on an
    allowed origin must still be able to read them (status, message, Retry-After), or its fetch fails blind."""
    settings.FEEDBACK_RATE_LIMIT_PER_IP = 1
    address = f"203.0.113.{uuid.uuid4().int % 250}"
    assert (
        post(client, pk_only(with_origin), {"traceId": "t", "value": 1}, origin=APP, address=address).status_code == 200
    )
    limited = post(client, pk_only(with_origin), {"traceId": "t", "value": 1}, origin=APP, address=address)
    assert "address" in assert_error(limited, 429)["message"]
    assert limited["Access-Control-Allow-Origin"] == APP and limited["Vary"] == "Origin"
    assert 1 <= int(limited["Retry-After"]) <= settings.FEEDBACK_RATE_LIMIT_WINDOW_SECONDS + 1
    assert "retry-after" in _exposed(limited)  # without this, fetch() hides Retry-After from the page
    # an origin no project allows learns nothing, limited or not
    elsewhere = post(
        client, pk_only(with_origin), {"traceId": "t", "value": 1}, origin="https://evil.example", address=address
    )
    assert_error(elsewhere, 429)
    assert "Access-Control-Allow-Origin" not in elsewhere
    # a bad key is refused before its project is known: readable too
    unknown = post(
        client,
        "Basic " + base64.b64encode(b"pk-unknown:").decode(),
        {"traceId": "t", "value": 1},
        origin=APP,
        address=f"198.18.1.{uuid.uuid4().int % 250}",
    )
    assert_error(unknown, 401)
    assert unknown["Access-Control-Allow-Origin"] == APP
    assert Score.objects.filter(project_id=with_origin.project.pk).count() == 1


def test_client_address_behind_a_proxy_is_the_last_forwarded_hop(client: Client, acme: Tenant, settings: Any) -> None:
    settings.FEEDBACK_RATE_LIMIT_PER_IP = 1
    settings.FEEDBACK_CLIENT_IP_HEADER = "X-Forwarded-For"
    proxy = {"address": "10.0.0.1"}
    first = f"198.18.0.{uuid.uuid4().int % 250}"
    ok = post(client, pk_only(acme), {"traceId": "t", "value": 1}, HTTP_X_FORWARDED_FOR=f"6.6.6.6, {first}", **proxy)
    assert ok.status_code == 200
    # a spoofed first hop does not make a new client; the proxy's hop decides
    again = post(client, pk_only(acme), {"traceId": "t", "value": 1}, HTTP_X_FORWARDED_FOR=f"7.7.7.7, {first}", **proxy)
    assert_error(again, 429)
    other = post(client, pk_only(acme), {"traceId": "t", "value": 1}, HTTP_X_FORWARDED_FOR="198.19.0.9", **proxy)
    assert other.status_code == 200


def test_rate_limit_per_key(client: Client, acme: Tenant, globex: Tenant, settings: Any) -> None:
    settings.FEEDBACK_RATE_LIMIT_PER_KEY = 3
    for n in range(3):
        assert post(client, pk_only(acme), {"traceId": "t", "value": 1}, address=f"192.0.2.{n}").status_code == 200
    limited = post(client, pk_only(acme), {"traceId": "t", "value": 1}, address="192.0.2.99")
    assert "key" in assert_error(limited, 429)["message"] and int(limited["Retry-After"]) >= 1
    assert post(client, pk_only(globex), {"traceId": "t", "value": 1}).status_code == 200  # other keys are fine
    assert Score.objects.filter(project_id=acme.project.pk).count() == 3


# --- A public key can do nothing else --------------------------------------------------------------


def _api_paths() -> list[str]:
    """Every API route (besides feedback), with "1" for each path parameter."""
    paths: set[str] = set()

    def walk(patterns: list[Any], prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and route.startswith(("api/public/", "v1/")):
                paths.add("/" + re.sub(r"<[^>]+>", "1", route))

    walk(get_resolver().url_patterns, "")
    return sorted(paths - {FEEDBACK})


def test_public_key_alone_is_refused_everywhere_else(client: Client, acme: Tenant) -> None:
    paths = _api_paths()
    for expected in ("/api/public/traces", "/api/public/ingestion", "/v1/traces", "/api/public/score-configs"):
        assert expected in paths
    auth = pk_only(acme)
    tried: set[str] = set()
    for path in paths:
        for method in ("get", "head", "post", "put", "patch", "delete"):
            response = client.generic(method.upper(), path, "{}", "application/json", HTTP_AUTHORIZATION=auth)
            if response.status_code == 405:
                continue  # the method does not exist there at all
            tried.add(method)
            assert response.status_code == 401, (method, path, response.status_code, response.content)
            if method != "head":  # a HEAD answer has no body to read
                assert response.json()["error"] == "unauthorized"
    assert tried == {"get", "head", "post", "put", "patch", "delete"}
    assert not Score.objects.exists()
