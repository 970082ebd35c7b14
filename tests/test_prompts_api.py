"""The Langfuse-compatible prompt API over HTTP: create, fetch, list, labels, caching, composition, tenancy, roles."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from redis.connection import AbstractConnection

from projects.models import ApiKey, AuditEvent, Role
from projects.selectors import api_key_cache_key, api_key_known, api_key_remember
from projects.services import api_key_revoke, user_create
from prompts import selectors, services
from prompts.errors import PromptForbidden
from prompts.models import PromptVersion
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db

BASE = "/api/public/v2/prompts"


def _call(client: Client, tenant: Tenant, method: str, path: str, body: Any = None, **extra: Any) -> Any:
    kwargs: dict[str, Any] = {"HTTP_AUTHORIZATION": tenant.basic_auth, **extra}
    if body is not None:
        kwargs.update(data=body, content_type="application/json")
    return getattr(client, method)(path, **kwargs)


def _create(client: Client, tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = _call(client, tenant, "post", BASE, body)
    assert response.status_code == 201, response.content
    return response.json()


def test_text_prompt_round_trip_in_langfuse_shape(client: Client, acme: Tenant) -> None:
    created = _create(
        client,
        acme,
        name="capture-created-text",
        prompt="Hello {{name}}, summarise {{doc}}.",
        config={"model": "gpt-4o-mini", "temperature": 0.1},
        labels=["production"],
        tags=["capture"],
        commitMessage="initial version",
    )
    assert created["version"] == 1 and created["type"] == "text"
    assert set(created["labels"]) == {"production", "latest"}
    assert created["commitMessage"] == "initial version" and created["tags"] == ["capture"]
    assert created["createdBy"] == "API" and created["resolutionGraph"] is None

    fetched = _call(client, acme, "get", f"{BASE}/capture-created-text")
    assert fetched.status_code == 200
    body = fetched.json()
    for key in ("id", "name", "version", "type", "prompt", "config", "labels", "tags", "commitMessage"):
        assert body[key] == created[key], key
    assert body["servedVersion"] == 1 and body["variant"] is None and body["isActive"] is True
    stored = PromptVersion.objects.get(prompt__project=acme.project, prompt__name="capture-created-text")
    assert stored.variables == ["name", "doc"]

    _create(client, acme, name="capture-created-text", prompt="v2 {{name}}", labels=["staging"])
    assert _call(client, acme, "get", f"{BASE}/capture-created-text").json()["version"] == 1  # production stays
    assert _call(client, acme, "get", f"{BASE}/capture-created-text?label=latest").json()["version"] == 2
    assert _call(client, acme, "get", f"{BASE}/capture-created-text?label=staging").json()["prompt"] == "v2 {{name}}"
    by_version = _call(client, acme, "get", f"{BASE}/capture-created-text?version=1").json()
    assert by_version["prompt"] == "Hello {{name}}, summarise {{doc}}."


def test_chat_prompt_with_placeholder(client: Client, acme: Tenant) -> None:
    messages = [
        {"role": "system", "content": "Be {{tone}}."},
        {"name": "history", "type": "placeholder"},
        {"role": "user", "content": "{{question}}"},
    ]
    created = _create(
        client, acme, name="capture-created-chat", prompt=messages, type="chat", labels=["staging"], tags=None
    )
    assert created["type"] == "chat" and created["tags"] == []
    body = _call(client, acme, "get", f"{BASE}/capture-created-chat?label=staging").json()
    assert body["prompt"] == [
        {"role": "system", "content": "Be {{tone}}."},
        {"type": "placeholder", "name": "history"},
        {"role": "user", "content": "{{question}}"},
    ]
    # No production label yet: the default fetch is a 404 the SDK turns into its fallback.
    missing = _call(client, acme, "get", f"{BASE}/capture-created-chat")
    assert missing.status_code == 404
    assert missing.json()["message"] == "Prompt not found: 'capture-created-chat' with label 'production'"


def test_folder_names_percent_encoded_and_raw(client: Client, acme: Tenant) -> None:
    _create(client, acme, name="support/answer", prompt="Answer {{q}}", labels=["production"])
    encoded = _call(client, acme, "get", f"{BASE}/support%2Fanswer")
    raw = _call(client, acme, "get", f"{BASE}/support/answer")
    assert encoded.status_code == raw.status_code == 200
    assert encoded.json()["name"] == raw.json()["name"] == "support/answer"

    patched = _call(client, acme, "patch", f"{BASE}/support%2Fanswer/versions/1", {"newLabels": ["reviewed"]})
    assert patched.status_code == 200 and "reviewed" in patched.json()["labels"]
    assert _call(client, acme, "get", f"{BASE}/support/answer?label=reviewed").json()["version"] == 1


def test_patch_moves_labels_and_is_audited(client: Client, acme: Tenant) -> None:
    _create(client, acme, name="greet", prompt="Hi", labels=["production"])
    _create(client, acme, name="greet", prompt="Hello")
    response = _call(client, acme, "patch", f"{BASE}/greet/versions/2", {"newLabels": ["production", "beta"]})
    assert response.status_code == 200
    assert {"production", "beta", "latest"} == set(response.json()["labels"])
    assert _call(client, acme, "get", f"{BASE}/greet").json()["version"] == 2
    assert "production" not in _call(client, acme, "get", f"{BASE}/greet?version=1").json()["labels"]

    event = AuditEvent.objects.filter(project=acme.project, action="prompt.label.set", target="greet@production")
    moved = event.order_by("-pk").first()
    assert moved is not None and moved.actor_api_key is not None
    assert moved.before["version"] == 1 and moved.after["version"] == 2

    latest = _call(client, acme, "patch", f"{BASE}/greet/versions/1", {"newLabels": ["latest"]})
    assert latest.status_code == 400 and latest.json()["field"] == "newLabels"
    assert _call(client, acme, "patch", f"{BASE}/greet/versions/9", {"newLabels": ["x"]}).status_code == 404


def test_list_with_meta_and_filters(client: Client, acme: Tenant) -> None:
    _create(client, acme, name="a/one", prompt="1", labels=["production"], tags=["support"], config={"model": "m1"})
    _create(client, acme, name="a/one", prompt="2", config={"model": "m2"})
    _create(client, acme, name="b/two", prompt="x", tags=["agent"])
    _create(client, acme, name="c/three", prompt="y", labels=["production"])

    listed = _call(client, acme, "get", BASE).json()
    assert listed["meta"] == {"page": 1, "limit": 50, "totalItems": 3, "totalPages": 1}
    one = next(row for row in listed["data"] if row["name"] == "a/one")
    assert one["versions"] == [1, 2] and set(one["labels"]) == {"production", "latest"}
    assert one["tags"] == ["support"] and one["lastConfig"] == {"model": "m2"} and one["type"] == "text"

    by_label = _call(client, acme, "get", f"{BASE}?label=production").json()
    assert [row["name"] for row in by_label["data"]] == ["a/one", "c/three"]
    assert by_label["data"][0]["versions"] == [1] and by_label["data"][0]["labels"] == ["production"]
    assert [row["name"] for row in _call(client, acme, "get", f"{BASE}?tag=agent").json()["data"]] == ["b/two"]
    assert [row["name"] for row in _call(client, acme, "get", f"{BASE}?name=c/three").json()["data"]] == ["c/three"]
    paged = _call(client, acme, "get", f"{BASE}?page=2&limit=2").json()
    assert paged["meta"] == {"page": 2, "limit": 2, "totalItems": 3, "totalPages": 2}
    assert [row["name"] for row in paged["data"]] == ["c/three"]

    bad = _call(client, acme, "get", f"{BASE}?limit=500")
    assert bad.status_code == 400 and bad.json()["field"] == "limit"


def test_list_queries_do_not_grow_with_rows(client: Client, acme: Tenant) -> None:
    for index in range(3):
        _create(client, acme, name=f"p{index}", prompt="x", labels=["production"])
    _call(client, acme, "get", BASE)  # warms the key cache
    with CaptureQueriesContext(connection) as few:
        _call(client, acme, "get", BASE)
    for index in range(3, 12):
        _create(client, acme, name=f"p{index}", prompt="x", labels=["production"])
        _create(client, acme, name=f"p{index}", prompt="y")
    with CaptureQueriesContext(connection) as many:
        assert len(_call(client, acme, "get", BASE).json()["data"]) == 12
    assert len(many.captured_queries) == len(few.captured_queries)


def test_etag_revalidation_and_warm_fetch_costs_no_query(
    client: Client, acme: Tenant, django_assert_num_queries: Any
) -> None:
    _create(client, acme, name="cached", prompt="one", labels=["production"])
    first = _call(client, acme, "get", f"{BASE}/cached")
    etag = first["ETag"]
    assert etag and first["Cache-Control"] == "private, no-cache"

    with django_assert_num_queries(0):
        warm = _call(client, acme, "get", f"{BASE}/cached")
        not_modified = _call(client, acme, "get", f"{BASE}/cached", HTTP_IF_NONE_MATCH=f'"other", W/{etag}')
    assert warm.status_code == 200 and warm.json()["prompt"] == "one"
    assert not_modified.status_code == 304 and not_modified.content == b"" and not_modified["ETag"] == etag

    # Any write retires the cached answer: the label moves, the next fetch sees it and the ETag changes.
    _create(client, acme, name="cached", prompt="two", labels=["production"])
    changed = _call(client, acme, "get", f"{BASE}/cached", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed.json()["prompt"] == "two" and changed["ETag"] != etag


@pytest.fixture
def redis_round_trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every request this process sends to the real Redis, by command name: redis-py writes each command,
    or each whole pipeline, with one `send_packed_command`, so one call is one round trip. Observed, not
    replaced: the original runs."""
    sent: list[str] = []
    original = AbstractConnection.send_packed_command

    def counted(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        first = command if isinstance(command, bytes | str) else command[0]
        first = first.encode() if isinstance(first, str) else bytes(first)
        sent.append(first.split(b"\r\n")[2].decode())  # *<n>, $<len>, then the command's name
        original(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
    return sent


def test_warm_fetch_is_one_cache_round_trip(
    client: Client, acme: Tenant, redis_round_trips: list[str], django_assert_num_queries: Any
) -> None:
    """The key, the prompt and its generation come back in one MGET; last use is kept in process memory."""
    _create(client, acme, name="hot", prompt="served hot", labels=["production"])
    first = _call(client, acme, "get", f"{BASE}/hot")
    assert first.status_code == 200
    redis_round_trips.clear()
    with django_assert_num_queries(0):
        warm = _call(client, acme, "get", f"{BASE}/hot")
        assert redis_round_trips == ["MGET"]
        not_modified = _call(client, acme, "get", f"{BASE}/hot", HTTP_IF_NONE_MATCH=first["ETag"])
    assert warm.status_code == 200 and warm.json()["prompt"] == "served hot"
    assert not_modified.status_code == 304 and redis_round_trips == ["MGET", "MGET"]
    # A cold entry (by version) is built once and written; then it is one round trip too.
    assert _call(client, acme, "get", f"{BASE}/hot?version=1").status_code == 200
    redis_round_trips.clear()
    assert _call(client, acme, "get", f"{BASE}/hot?version=1").status_code == 200
    assert redis_round_trips == ["MGET"]


def test_revocation_applies_at_once_to_a_key_this_process_remembers(
    client: Client, acme: Tenant, alice: Any, django_capture_on_commit_callbacks: Any
) -> None:
    _create(client, acme, name="guarded", prompt="secret plan", labels=["production"])
    assert _call(client, acme, "get", f"{BASE}/guarded").status_code == 200
    # An expired or evicted cache entry is no refusal: the database answers and the entry is written again.
    cache.delete(api_key_cache_key(acme.public_key))
    assert _call(client, acme, "get", f"{BASE}/guarded").json()["prompt"] == "secret plan"
    assert cache.get(api_key_cache_key(acme.public_key))["public_key"] == acme.public_key

    # A remembered key with a wrong secret is no key.
    remembered = api_key_known(public_key=acme.public_key)
    assert remembered is not None
    wrong = base64.b64encode(f"{acme.public_key}:sk-wrong".encode()).decode()
    assert client.get(f"{BASE}/guarded", HTTP_AUTHORIZATION=f"Basic {wrong}").status_code == 401

    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(api_key=ApiKey.objects.get(public_key=acme.public_key), actor=alice)
    asked = [("get", f"{BASE}/guarded"), ("get", f"{BASE}/guarded?version=1"), ("get", f"{BASE}/missing")]
    asked += [("get", f"{BASE}/guarded?version=x"), ("options", f"{BASE}/guarded"), ("post", f"{BASE}/guarded")]
    for method, path in asked:
        # As in any other process: it still remembers the key (a refusal forgets it); only the cache entry is gone.
        api_key_remember(principal=remembered)
        refused = _call(client, acme, method, path)
        assert refused.status_code == 401, (method, path, refused.content)
        assert refused.json()["error"] == "unauthorized" and refused["WWW-Authenticate"].startswith("Basic")
        assert api_key_known(public_key=acme.public_key) is None


def test_an_unacceptable_accept_header_is_a_406_whatever_the_credentials(client: Client, acme: Tenant) -> None:
    """Content negotiation fails before authentication has run: the answer says so, it is no 500."""
    _create(client, acme, name="plain", prompt="json only", labels=["production"])
    for credentials in ({}, {"HTTP_AUTHORIZATION": "Basic zzz"}, {"HTTP_AUTHORIZATION": acme.basic_auth}):
        assert client.get(f"{BASE}/plain", HTTP_ACCEPT="application/xml", **credentials).status_code == 406


def test_cached_404_is_retired_by_create(client: Client, acme: Tenant) -> None:
    assert _call(client, acme, "get", f"{BASE}/later").status_code == 404
    _create(client, acme, name="later", prompt="now", labels=["production"])
    assert _call(client, acme, "get", f"{BASE}/later").json()["prompt"] == "now"


def test_composition_resolves_at_fetch_and_follows_label_moves(client: Client, acme: Tenant) -> None:
    _create(client, acme, name="shared/tone", prompt="Be kind.", labels=["production"])
    _create(
        client,
        acme,
        name="support/answer",
        prompt="@@@langfusePrompt:name=shared/tone|label=production@@@ Answer {{q}}. "
        "@@@langfusePrompt:name=shared/tone|version=1@@@",
        labels=["production"],
    )
    body = _call(client, acme, "get", f"{BASE}/support%2Fanswer").json()
    assert body["prompt"] == "Be kind. Answer {{q}}. Be kind."
    graph = body["resolutionGraph"]
    assert graph["root"]["name"] == "support/answer"
    assert {(e["child"]["name"], e["child"]["version"]) for e in graph["dependencies"]} == {("shared/tone", 1)}
    raw = _call(client, acme, "get", f"{BASE}/support%2Fanswer?resolve=false").json()
    assert raw["prompt"].startswith("@@@langfusePrompt:") and raw["resolutionGraph"] is None

    # A new production version of the included prompt changes the including prompt's answer at once.
    _create(client, acme, name="shared/tone", prompt="Be brief.", labels=["production"])
    assert _call(client, acme, "get", f"{BASE}/support%2Fanswer").json()["prompt"] == "Be brief. Answer {{q}}. Be kind."

    # A label another prompt includes cannot be removed from under it.
    tone = selectors.prompt_get(project_id=acme.project.pk, name="shared/tone")
    with pytest.raises(Exception, match="includes 'shared/tone' by label 'production'"):
        services.prompt_label_delete(prompt=tone, label="production", actor_role=Role.ADMIN)


def test_composition_refuses_missing_references_and_cycles(client: Client, acme: Tenant) -> None:
    missing = _call(
        client, acme, "post", BASE, {"name": "x", "prompt": "@@@langfusePrompt:name=nope|label=production@@@"}
    )
    assert missing.status_code == 400 and missing.json()["field"] == "prompt"
    assert "Referenced prompt not found: 'nope'" in missing.json()["message"]
    malformed = _call(client, acme, "post", BASE, {"name": "x", "prompt": "@@@langfusePrompt:name=a@@@"})
    assert malformed.status_code == 400 and "one of label= or version=" in malformed.json()["message"]

    _create(client, acme, name="a", prompt="A base", labels=["production"])
    _create(client, acme, name="b", prompt="B with @@@langfusePrompt:name=a|label=production@@@", labels=["production"])
    cycle = _call(
        client,
        acme,
        "post",
        BASE,
        {"name": "a", "prompt": "A with @@@langfusePrompt:name=b|label=production@@@", "labels": ["production"]},
    )
    assert cycle.status_code == 409 and "cycle" in cycle.json()["message"] and cycle.json()["field"] == "prompt"
    assert PromptVersion.objects.filter(prompt__project=acme.project, prompt__name="a").count() == 1  # rolled back

    # Without the label the new version is fine; moving production onto it later would close the cycle.
    _create(client, acme, name="a", prompt="A with @@@langfusePrompt:name=b|label=production@@@")
    move = _call(client, acme, "patch", f"{BASE}/a/versions/2", {"newLabels": ["production"]})
    assert move.status_code == 409 and "cycle" in move.json()["message"]
    assert _call(client, acme, "get", f"{BASE}/b").json()["prompt"] == "B with A base"

    chat = [{"role": "system", "content": "x"}]
    _create(client, acme, name="chatty", prompt=chat, labels=["production"])
    refused = _call(client, acme, "post", BASE, {"name": "y", "prompt": "@@@langfusePrompt:name=chatty|version=1@@@"})
    assert refused.status_code == 400 and "only text prompts" in refused.json()["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": "x"}, "name"),
        ({"name": "", "prompt": "x"}, "name"),
        ({"name": "a//b", "prompt": "x"}, "name"),
        ({"name": "a/versions/2", "prompt": "x"}, "name"),
        ({"name": "n"}, "prompt"),
        ({"name": "n", "prompt": "x", "type": "chat"}, "prompt"),
        ({"name": "n", "prompt": [{"content": "hi"}], "type": "chat"}, "prompt[0].role"),
        ({"name": "n", "prompt": [{"type": "placeholder"}]}, "prompt[0].name"),
        ({"name": "n", "prompt": "x", "type": "image"}, "type"),
        ({"name": "n", "prompt": "x", "config": [1]}, "config"),
        ({"name": "n", "prompt": "x", "labels": "production"}, "labels"),
        ({"name": "n", "prompt": "x", "labels": ["Prod Ready"]}, "labels"),
        ({"name": "n", "prompt": "x", "tags": [""]}, "tags"),
        ({"name": "n", "prompt": "x", "commitMessage": 5}, "commitMessage"),
    ],
)
def test_bad_create_input_names_the_field(client: Client, acme: Tenant, body: dict[str, Any], field: str) -> None:
    response = _call(client, acme, "post", BASE, body)
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "bad_request" and response.json()["field"] == field


def test_bad_fetch_input_and_type_change(client: Client, acme: Tenant) -> None:
    _create(client, acme, name="t", prompt="x", labels=["production"])
    for query, field in [("version=abc", "version"), ("version=1&label=production", "label"), ("page=0", None)]:
        response = _call(client, acme, "get", f"{BASE}/t?{query}")
        if field is None:
            assert response.status_code == 200  # unknown parameters are ignored
            continue
        assert response.status_code == 400 and response.json()["field"] == field
    long_key = _call(client, acme, "get", f"{BASE}/t?assignmentKey={'k' * 201}")
    assert long_key.status_code == 400 and long_key.json()["field"] == "assignmentKey"
    changed = _call(client, acme, "post", BASE, {"name": "t", "prompt": [{"role": "user", "content": "x"}]})
    assert changed.status_code == 400 and changed.json()["field"] == "type"
    not_json = client.post(BASE, data="[1]", content_type="application/json", HTTP_AUTHORIZATION=acme.basic_auth)
    assert not_json.status_code == 400
    assert client.get(f"{BASE}/t").status_code == 401


def test_another_projects_key_gets_404(client: Client, acme: Tenant, globex: Tenant) -> None:
    _create(client, acme, name="secret/plan", prompt="acme only", labels=["production"])
    _create(client, acme, name="secret/plan", prompt="acme v2")
    assert _call(client, globex, "get", f"{BASE}/secret%2Fplan").status_code == 404
    assert _call(client, globex, "get", f"{BASE}/secret%2Fplan?version=1").status_code == 404
    patch = _call(client, globex, "patch", f"{BASE}/secret%2Fplan/versions/1", {"newLabels": ["x"]})
    assert patch.status_code == 404
    split = {"variants": [{"version": 1, "weight": 50}, {"version": 2, "weight": 50}]}
    assert _call(client, globex, "put", f"{BASE}/secret%2Fplan/splits/production", split).status_code == 404
    assert _call(client, globex, "get", f"{BASE}/secret%2Fplan/splits/production").status_code == 404
    assert _call(client, globex, "delete", f"{BASE}/secret%2Fplan/splits/production").status_code == 404
    assert _call(client, globex, "get", BASE).json()["data"] == []
    # A reference cannot reach into another project either.
    borrowed = {"name": "mine", "prompt": "@@@langfusePrompt:name=secret/plan|label=production@@@"}
    refused = _call(client, globex, "post", BASE, borrowed)
    assert refused.status_code == 400 and "Referenced prompt not found" in refused.json()["message"]
    # globex's own prompt of the same name is a different prompt.
    _create(client, globex, name="secret/plan", prompt="globex", labels=["production"])
    assert _call(client, globex, "get", f"{BASE}/secret%2Fplan").json()["prompt"] == "globex"
    assert _call(client, acme, "get", f"{BASE}/secret%2Fplan").json()["prompt"] == "acme only"


def test_roles_in_services(acme: Tenant, alice: Any, bob: Any) -> None:
    """Viewers read; members create and move other labels; admins move production and edit splits."""
    with pytest.raises(PromptForbidden):
        services.prompt_version_create(project=acme.project, name="r", content="x", author=bob, actor_role=Role.VIEWER)
    version = services.prompt_version_create(
        project=acme.project, name="r", content="x", labels=["staging"], author=bob, actor_role=Role.MEMBER
    )
    with pytest.raises(PromptForbidden, match="production"):
        services.prompt_version_create(
            project=acme.project, name="r", content="y", labels=["production"], author=bob, actor_role=Role.MEMBER
        )
    with pytest.raises(PromptForbidden, match="production"):
        services.prompt_labels_add(version=version, labels=["production"], actor=bob, actor_role=Role.MEMBER)
    services.prompt_labels_add(version=version, labels=["reviewed"], actor=bob, actor_role=Role.MEMBER)
    services.prompt_version_create(project=acme.project, name="r", content="z", author=alice, actor_role=Role.OWNER)
    prompt = selectors.prompt_get(project_id=acme.project.pk, name="r")
    split = [{"version": 1, "weight": 50}, {"version": 2, "weight": 50}]
    with pytest.raises(PromptForbidden, match="split"):
        services.prompt_split_set(prompt=prompt, label="staging", variants=split, actor=bob, actor_role=Role.MEMBER)
    services.prompt_labels_add(version=version, labels=["production"], actor=alice, actor_role=Role.OWNER)
    state = services.prompt_split_set(
        prompt=prompt, label="production", variants=split, actor=alice, actor_role=Role.ADMIN
    )
    assert state.is_split and [v.version for v in state.serves] == [1, 2]
    assert selectors.prompt_version_get(prompt=prompt, version=1).author == bob
    labels = {state.name: state.version for state in selectors.prompt_label_states(prompt=prompt)}
    assert labels == {"latest": 2, "production": 1, "reviewed": 1, "staging": 1}


def test_members_cannot_end_a_split_on_any_label(acme: Tenant, alice: Any, bob: Any) -> None:
    """Moving, rolling back or removing a split label ends the split: split editing, for admins only."""
    services.prompt_version_create(
        project=acme.project, name="s", content="one", labels=["staging"], author=bob, actor_role=Role.MEMBER
    )
    v2 = services.prompt_version_create(project=acme.project, name="s", content="two", actor_role=Role.MEMBER)
    prompt = selectors.prompt_get(project_id=acme.project.pk, name="s")
    split = [{"version": 1, "weight": 50}, {"version": 2, "weight": 50}]
    services.prompt_split_set(prompt=prompt, label="staging", variants=split, actor=alice, actor_role=Role.ADMIN)
    member = {"actor_role": Role.MEMBER}
    audited = AuditEvent.objects.filter(action__startswith="prompt.").count()
    refusals = {
        "labels_add": lambda: services.prompt_labels_add(version=v2, labels=["staging"], actor=bob, **member),
        "version_create": lambda: services.prompt_version_create(
            project=acme.project, name="s", content="three", labels=["staging"], author=bob, **member
        ),
        "rollback": lambda: services.prompt_label_rollback(prompt=prompt, label="staging", actor=bob, **member),
        "rollback_to": lambda: services.prompt_label_rollback(
            prompt=prompt, label="staging", version=2, actor=bob, **member
        ),
        "delete": lambda: services.prompt_label_delete(prompt=prompt, label="staging", actor=bob, **member),
    }
    for what, refused in refusals.items():
        with pytest.raises(PromptForbidden, match="it is a split"):
            refused()
        state = selectors.prompt_label_state(prompt=prompt, label="staging")
        assert [(v.version, v.weight) for v in state.serves] == [(1, 50), (2, 50)], what
    assert prompt.versions.count() == 2  # the refused create left no version behind
    assert AuditEvent.objects.filter(action__startswith="prompt.").count() == audited

    # An admin ends it by moving the label; a plain label is the members' again.
    services.prompt_labels_add(version=v2, labels=["staging"], actor=alice, actor_role=Role.ADMIN)
    state = services.prompt_label_rollback(prompt=prompt, label="staging", actor=bob, **member)
    assert not state.is_split and state.version == 1
    services.prompt_label_delete(prompt=prompt, label="staging", actor=bob, **member)
    assert [s.name for s in selectors.prompt_label_states(prompt=prompt)] == ["latest"]


def test_versions_are_immutable_in_the_database(acme: Tenant) -> None:
    """A trigger refuses any UPDATE of a version (ORM, raw SQL, admin alike); only a deleted author is let go."""
    author = user_create(email="ada@example.com", password="pw-ada-12345", name="Ada")
    version = services.prompt_version_create(
        project=acme.project, name="frozen", content="one {{x}}", config={"temperature": 0.1}, author=author
    )
    changes: list[dict[str, Any]] = [
        {"content": "two"},
        {"config": {"temperature": 0.9}},
        {"commit_message": "rewritten"},
        {"version": 7},
        {"variables": []},
        {"references": [{"name": "other", "label": "production"}]},
        {"author": user_create(email="eve@example.com", password="pw-eve-12345", name="Eve")},
    ]
    for change in changes:
        with pytest.raises(IntegrityError, match="prompt versions are immutable"), transaction.atomic():
            PromptVersion.objects.filter(pk=version.pk).update(**change)
    version.content = "edited through save()"
    with pytest.raises(IntegrityError, match="immutable"), transaction.atomic():
        version.save()
    with pytest.raises(IntegrityError, match="immutable"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE prompts_promptversion SET content = '\"raw\"'::jsonb WHERE id = %s", [version.pk])
    stored = PromptVersion.objects.get(pk=version.pk)
    assert (stored.content, stored.config, stored.variables) == ("one {{x}}", {"temperature": 0.1}, ["x"])

    # Deleting the author is the one change allowed: the version stays, without an author.
    author.delete()
    assert PromptVersion.objects.get(pk=version.pk).author is None
    assert selectors.prompt_resolve(project_id=acme.project.pk, name="frozen", version=1).body["prompt"] == "one {{x}}"


def test_unicode_digits_are_refused_not_a_500(client: Client, acme: Tenant) -> None:
    """str.isdigit() passes "²", which int() refuses: numbers in queries and references are ASCII digits."""
    _create(client, acme, name="sq", prompt="x", labels=["production"])
    for path in (f"{BASE}/sq?version=²", f"{BASE}?page=²", f"{BASE}?limit=٣"):
        refused = _call(client, acme, "get", path)
        assert refused.status_code == 400, (path, refused.content)
    reference = _call(client, acme, "post", BASE, {"name": "inc", "prompt": "@@@langfusePrompt:name=sq|version=²@@@"})
    assert reference.status_code == 400 and "version must be a positive integer" in reference.json()["message"]
