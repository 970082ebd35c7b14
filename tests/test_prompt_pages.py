"""Prompt pages and the playground, through HTTP: list, prompt page (labels, splits, timeline, usage from
traces), version editor, diff, label actions by role, and playground runs streamed from a real local
OpenAI-compatible server (tests/llm_server.py)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import orjson
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from projects.models import AuditEvent, LLMConnection, Membership, Role
from projects.services import llm_connection_create, user_create
from prompts.models import Prompt, PromptVersion
from prompts.services import prompt_split_set, prompt_version_create
from tests.llm_server import DEFAULT_API_KEY, LLMServer

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
SSE = {"HTTP_ACCEPT": "text/event-stream"}


def _version(tenant: Any, name: str, content: Any, **extra: Any) -> PromptVersion:
    return prompt_version_create(project=tenant.project, name=name, content=content, **extra)


def _chat(system: str, user: str = "Question: {{question}}") -> list[dict[str, str]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def _viewer_client(tenant: Any) -> Client:
    viewer = user_create(email="vera@example.com", password="pw-vera-12345", name="Vera")
    Membership.objects.create(organization=tenant.organization, user=viewer, role=Role.VIEWER)
    client = Client()
    client.force_login(viewer)
    return client


def _connection(tenant: Any, server: LLMServer) -> LLMConnection:
    return llm_connection_create(
        project=tenant.project,
        name="Local",
        provider="openai-compatible",
        base_url=server.url,
        api_key=DEFAULT_API_KEY,
        model_names=["local-echo", "local-small"],
        actor=None,
    )


def _sse(response: Any) -> list[tuple[str, dict[str, Any]]]:
    body = b"".join(response.streaming_content).decode()
    events = []
    for frame in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in frame.split("\n"))
        events.append((lines["event"], orjson.loads(lines["data"])))
    return events


# --- list -------------------------------------------------------------------------------------------


def test_prompt_list_searches_folders_and_labels(
    alice_client: Client, acme: Any, django_assert_max_num_queries: Any
) -> None:
    _version(acme, "support/answer", _chat("Be kind."), labels=["production"])
    _version(acme, "support/triage/route", "Route {{ticket}}", labels=["staging"])
    _version(acme, "search/rerank", "Rank {{docs}}")
    url = reverse("prompt-list", args=[acme.project.pk])

    page = alice_client.get(url).content.decode()
    for name in ("support/answer", "support/triage/route", "search/rerank"):
        assert name in page
    assert 'href="?folder=search"' in page and 'href="?folder=support"' in page  # top-level folders

    inside = alice_client.get(url, {"folder": "support"}).content.decode()
    assert "support/answer" in inside and "search/rerank" not in inside
    assert 'href="?folder=support/triage"' in inside  # its sub-folder

    found = alice_client.get(url, {"q": "RERANK"}, **HTMX).content.decode()
    assert "search/rerank" in found and "support/answer" not in found and "<html" not in found
    labelled = alice_client.get(url, {"label": "staging"}).content.decode()
    assert "support/triage/route" in labelled and "support/answer" not in labelled
    assert "No prompts match" in alice_client.get(url, {"q": "nothing-like-this"}).content.decode()

    for index in range(20):
        _version(acme, f"bulk/p{index}", "x", labels=["staging"])
    with django_assert_max_num_queries(14):  # constant: not one query per prompt
        assert alice_client.get(url).status_code == 200


def test_empty_list_explains_how_to_start(alice_client: Client, acme: Any) -> None:
    page = alice_client.get(reverse("prompt-list", args=[acme.project.pk])).content.decode()
    assert "No prompts yet" in page and "create_prompt" in page


# --- prompt page ------------------------------------------------------------------------------------


def _ingest(tenant: Any, events: list[dict[str, Any]]) -> None:
    response = Client().post(
        "/api/public/ingestion",
        data=orjson.dumps({"batch": events}),
        content_type="application/json",
        HTTP_AUTHORIZATION=tenant.basic_auth,
    )
    assert response.status_code == 207 and not response.json()["errors"], response.content


def _generation(
    index: int, version: int, *, trace: str, tokens: tuple[int, int], cost: float, level: str = "DEFAULT"
) -> dict[str, Any]:
    start = datetime(2026, 11, 20, 12, 0, tzinfo=UTC) + timedelta(minutes=index)
    return {
        "id": f"evt-gen-{index}",
        "type": "generation-create",
        "timestamp": start.isoformat(),
        "body": {
            "id": f"gen-{index}",
            "traceId": trace,
            "name": "answer",
            "startTime": start.isoformat(),
            "completionStartTime": (start + timedelta(milliseconds=200)).isoformat(),
            "endTime": (start + timedelta(milliseconds=1000)).isoformat(),
            "model": "gpt-4o-mini",
            "promptName": "support/answer",
            "promptVersion": version,
            "usageDetails": {"input": tokens[0], "output": tokens[1]},
            "costDetails": {"total": cost},
            "level": level,
        },
    }


def _score(index: int, trace: str, name: str, value: float, source: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"id": f"score-{index}", "traceId": trace, "name": name, "value": value}
    if source:
        body["source"] = source
    return {"id": f"evt-score-{index}", "type": "score-create", "timestamp": "2026-11-20T13:00:00Z", "body": body}


def test_prompt_page_shows_labels_splits_versions_and_usage(
    alice_client: Client, acme: Any, alice: Any, django_assert_max_num_queries: Any
) -> None:
    _version(acme, "support/answer", _chat("Be kind. <script>alert(1)</script>"), labels=["production"])
    _version(acme, "support/answer", _chat("Be brief."), commit_message="Shorter answers")
    prompt = Prompt.objects.get(project=acme.project, name="support/answer")
    prompt_split_set(
        prompt=prompt,
        label="production",
        variants=[{"version": 1, "weight": 90}, {"version": 2, "weight": 10}],
        actor=alice,
        actor_role=Role.OWNER,
    )
    url = reverse("prompt-detail", args=[acme.project.pk, "support/answer"])
    with django_assert_max_num_queries(20):
        page = alice_client.get(url).content.decode()
    assert "v1</a> 90%" in page and "v2</a> 10%" in page  # the split's traffic share
    assert "Promote v2 to 100%" in page and "End split (keep v1)" in page
    assert "Shorter answers" in page and "Version 2" in page  # newest selected by default
    assert "split.set" in page  # the label history
    old = alice_client.get(url, {"version": 1}).content.decode()
    assert "Be kind. &lt;script&gt;alert(1)&lt;/script&gt;" in old and "<script>alert(1)" not in old
    assert f"{reverse('prompt-usage', args=[acme.project.pk])}?name=support/answer" in page

    _ingest(
        acme,
        [
            {"id": "evt-t1", "type": "trace-create", "timestamp": "2026-11-20T12:00:00Z", "body": {"id": "t1"}},
            {"id": "evt-t2", "type": "trace-create", "timestamp": "2026-11-20T12:00:00Z", "body": {"id": "t2"}},
            _generation(1, 1, trace="t1", tokens=(100, 20), cost=0.25),
            _generation(2, 1, trace="t1", tokens=(50, 10), cost=0.25, level="ERROR"),
            _generation(3, 2, trace="t2", tokens=(40, 5), cost=0.125),
            _score(1, "t1", "helpfulness", 0.5),
            _score(2, "t2", "helpfulness", 1.0),
            _score(3, "t1", "thumbs", 1.0, source="FEEDBACK"),
        ],
    )
    usage = alice_client.get(reverse("prompt-usage", args=[acme.project.pk]), {"name": "support/answer"}, **HTMX)
    body = usage.content.decode()
    v1 = body.split('data-version="1"')[1].split("</tr>")[0]
    v2 = body.split('data-version="2"')[1].split("</tr>")[0]
    assert 'generations">2<' in v1 and "150 → 30" in v1 and "$0.5" in v1 and "1,000 ms · 200 ms" in v1
    assert "1 error" in v1 and "error" not in v2
    assert "helpfulness 0.50" in v1  # a trace score counts once per version, not once per generation
    assert "thumbs 1.00" in v1
    assert 'generations">1<' in v2 and "40 → 5" in v2 and "helpfulness 1.00" in v2 and "thumbs" not in v2


def test_usage_fragment_is_empty_for_unused_prompts(alice_client: Client, acme: Any) -> None:
    body = alice_client.get(reverse("prompt-usage", args=[acme.project.pk]), {"name": "never/used"}).content.decode()
    assert "No generation has recorded" in body


def test_prompt_pages_are_404_for_other_organizations(charlie_client: Client, acme: Any, globex: Any) -> None:
    _version(acme, "secret/prompt", "Top secret {{x}}")
    pid = acme.project.pk
    assert charlie_client.get(reverse("prompt-list", args=[pid])).status_code == 404
    assert charlie_client.get(reverse("prompt-detail", args=[pid, "secret/prompt"])).status_code == 404
    assert charlie_client.get(reverse("prompt-usage", args=[pid]), {"name": "secret/prompt"}).status_code == 404
    assert charlie_client.get(reverse("prompt-playground", args=[pid])).status_code == 404
    assert charlie_client.post(reverse("prompt-playground-run", args=[pid])).status_code == 404
    # In his own project the name does not exist: 404 again, never another project's prompt.
    own = globex.project.pk
    assert charlie_client.get(reverse("prompt-detail", args=[own, "secret/prompt"])).status_code == 404
    assert charlie_client.get(reverse("prompt-diff", args=[own]), {"name": "secret/prompt"}).status_code == 404
    assert charlie_client.get(reverse("prompt-playground", args=[own]), {"prompt": "secret/prompt"}).status_code == 404
    response = charlie_client.post(
        reverse("prompt-label-action", args=[own]),
        {"name": "secret/prompt", "label": "staging", "op": "set", "version": 1},
    )
    assert response.status_code == 404 and not Prompt.objects.filter(project=globex.project).exists()


# --- editor -----------------------------------------------------------------------------------------


def test_member_creates_a_chat_version_with_a_placeholder(bob_client: Client, acme: Any) -> None:
    _version(acme, "support/answer", _chat("Be kind."), config={"model": "gpt-4o-mini"})
    url = reverse("prompt-editor", args=[acme.project.pk])
    page = bob_client.get(url, {"name": "support/answer"}).content.decode()
    assert "Be kind." in page and "Starts from version 1" in page and "question" in page  # variables listed
    assert "&quot;model&quot;: &quot;gpt-4o-mini&quot;" in page  # the config, pretty-printed

    response = bob_client.post(
        url,
        {
            "name": "support/answer",
            "role": ["system", "placeholder", "user"],
            "content": ["Be brief with {{customer}}.", "history", "{{question}}"],
            "config": '{"model": "gpt-4o", "temperature": 0.1}',
            "labels": ["staging"],
            "commit_message": "Brief, with history",
        },
    )
    assert response.status_code == 302 and response["Location"].endswith("?version=2")
    version = PromptVersion.objects.get(prompt__name="support/answer", version=2)
    assert version.content == [
        {"role": "system", "content": "Be brief with {{customer}}."},
        {"type": "placeholder", "name": "history"},
        {"role": "user", "content": "{{question}}"},
    ]
    assert version.config == {"model": "gpt-4o", "temperature": 0.1}
    assert version.variables == ["customer", "question"]
    assert list(version.labels.values_list("name", flat=True).order_by("name")) == ["latest", "staging"]
    assert version.author.email == "bob@example.com"


def test_editor_refuses_bad_config_and_protected_labels_for_members(bob_client: Client, acme: Any) -> None:
    url = reverse("prompt-editor", args=[acme.project.pk])
    form = {"name": "new/prompt", "type": "text", "text": "Hello {{name}}"}
    bad = bob_client.post(url, {**form, "config": '{"model": '})
    assert bad.status_code == 400 and "Config is not valid JSON" in bad.content.decode()
    assert "Hello {{name}}" in bad.content.decode()  # what was typed is kept
    array = bob_client.post(url, {**form, "config": "[1, 2]"})
    assert "Config must be a JSON object" in array.content.decode()
    assert bob_client.post(url, {**form, "labels": ["production"]}).status_code == 403
    assert not Prompt.objects.filter(name="new/prompt").exists()

    created = bob_client.post(url, {**form, "tags": "greeting, demo"})
    assert created.status_code == 302
    prompt = Prompt.objects.get(project=acme.project, name="new/prompt")
    assert prompt.type == "text" and prompt.tags == ["greeting", "demo"]
    assert prompt.versions.get().content == "Hello {{name}}"


def test_viewers_read_but_cannot_write(acme: Any) -> None:
    _version(acme, "support/answer", _chat("Be kind."), labels=["staging"])
    vera = _viewer_client(acme)
    pid = acme.project.pk
    page = vera.get(reverse("prompt-detail", args=[pid, "support/answer"])).content.decode()
    assert "Be kind." in page and "New version" not in page and "Add a label" not in page
    assert (
        vera.post(reverse("prompt-editor", args=[pid]), {"name": "x", "type": "text", "text": "y"}).status_code == 403
    )
    action = {"name": "support/answer", "label": "staging", "op": "delete"}
    assert vera.post(reverse("prompt-label-action", args=[pid]), action).status_code == 403
    assert vera.post(reverse("prompt-playground-run", args=[pid]), {"role": "user", "content": "hi"}).status_code == 403


# --- labels and splits ----------------------------------------------------------------------------


def test_label_actions_follow_roles_and_are_audited(alice_client: Client, bob_client: Client, acme: Any) -> None:
    _version(acme, "support/answer", _chat("v1"), labels=["production", "staging"])
    _version(acme, "support/answer", _chat("v2"))
    pid = acme.project.pk
    url = reverse("prompt-label-action", args=[pid])
    base = {"name": "support/answer"}

    moved = bob_client.post(url, {**base, "label": "staging", "op": "set", "version": 2}, follow=True)
    assert "“staging” now serves version 2." in moved.content.decode()
    assert bob_client.post(url, {**base, "label": "production", "op": "set", "version": 2}).status_code == 403
    split = {**base, "label": "production", "op": "split", "split_version": ["1", "2"], "split_weight": ["90", "10"]}
    assert bob_client.post(url, split).status_code == 403

    wrong = alice_client.post(url, {**split, "split_weight": ["90", "20"]}, follow=True).content.decode()
    assert "weights must sum to 100 (they sum to 110)" in wrong
    assert (
        "Saved the split"
        in alice_client.post(
            url, {**split, "split_version": ["1", "2", ""], "split_weight": ["90", "10", ""]}, follow=True
        ).content.decode()
    )
    page = alice_client.get(reverse("prompt-detail", args=[pid, "support/answer"])).content.decode()
    assert "v1</a> 90%" in page and "v2</a> 10%" in page

    promoted = alice_client.post(url, {**base, "label": "production", "op": "promote", "version": 2}, follow=True)
    assert "Version 2 now serves all of “production”." in promoted.content.decode()
    rolled = alice_client.post(url, {**base, "label": "production", "op": "rollback"}, follow=True)
    assert "Rolled “production” back to version" in rolled.content.decode()
    assert bob_client.post(url, {**base, "label": "staging", "op": "delete"}).status_code == 302
    actions = list(
        AuditEvent.objects.filter(project=acme.project, action__startswith="prompt.").values_list("action", flat=True)
    )
    for action in (
        "prompt.label.set",
        "prompt.split.set",
        "prompt.split.promote",
        "prompt.label.rollback",
        "prompt.label.delete",
    ):
        assert action in actions
    assert AuditEvent.objects.filter(action="prompt.split.set").get().actor.email == "alice@example.com"


def test_members_see_no_actions_on_a_split_and_are_refused(alice_client: Client, bob_client: Client, acme: Any) -> None:
    _version(acme, "support/answer", _chat("v1"), labels=["staging"])
    _version(acme, "support/answer", _chat("v2"))
    prompt = Prompt.objects.get(project=acme.project, name="support/answer")
    split = [{"version": 1, "weight": 80}, {"version": 2, "weight": 20}]
    prompt_split_set(prompt=prompt, label="staging", variants=split, actor_role=Role.ADMIN)
    pid = acme.project.pk
    detail = reverse("prompt-detail", args=[pid, "support/answer"])

    def staging_row(client: Client) -> str:
        page = client.get(detail).content.decode()
        return page.split('<tr data-label="staging">')[1].split("</tr>")[0]

    row = staging_row(bob_client)
    assert "A split: only admins change it." in row
    for control in ('value="set"', 'value="rollback"', 'value="delete"', 'value="promote"'):
        assert control not in row
    admin_row = staging_row(alice_client)
    assert 'value="set"' in admin_row and 'value="rollback"' in admin_row and 'value="delete"' in admin_row
    assert "only admins change it" not in admin_row

    url = reverse("prompt-label-action", args=[pid])
    base = {"name": "support/answer", "label": "staging"}
    for op in ({"op": "set", "version": 2}, {"op": "rollback"}, {"op": "rollback", "version": 1}, {"op": "delete"}):
        assert bob_client.post(url, {**base, **op}).status_code == 403, op
    editor = {"name": "support/answer", "type": "chat", "role": ["user"], "content": ["v3"], "labels": ["staging"]}
    assert bob_client.post(reverse("prompt-editor", args=[pid]), editor).status_code == 403
    assert prompt.versions.count() == 2
    assert "v1</a> 80%" in alice_client.get(detail).content.decode()  # still the split


# --- diff -------------------------------------------------------------------------------------------


def test_diff_shows_two_versions_side_by_side(alice_client: Client, acme: Any) -> None:
    _version(acme, "support/answer", _chat("Be kind and <b>thorough</b>."), config={"temperature": 0.2})
    _version(acme, "support/answer", _chat("Be kind and brief.", "Extra line"), config={"temperature": 0.7})
    page = alice_client.get(
        reverse("prompt-diff", args=[acme.project.pk]), {"name": "support/answer", "a": 1, "b": 2}
    ).content.decode()
    # Changed words are marked within the changed line, escaped.
    assert "Be kind and <del>&lt;b&gt;thorough&lt;/b&gt;</del>." in page and "Be kind and <ins>brief</ins>." in page
    assert "<del>Question:</del> <del>{{question}}</del>" in page and "<ins>Extra</ins> <ins>line</ins>" in page
    assert "0.<del>2</del>" in page and "0.<ins>7</ins>" in page  # the config is compared too
    assert '+3</span> <span class="diff-removed">\u22123</span>' in page
    assert 'data-testid="diff-summary"' in page
    # Defaults: the newest version against the one before it.
    default = alice_client.get(reverse("prompt-diff", args=[acme.project.pk]), {"name": "support/answer"})
    assert "<ins>brief</ins>" in default.content.decode()


# --- playground -------------------------------------------------------------------------------------


def test_playground_streams_a_completion_with_variables_and_parameters(
    bob_client: Client, acme: Any, llm_server: LLMServer
) -> None:
    connection = _connection(acme, llm_server)
    response = bob_client.post(
        reverse("prompt-playground-run", args=[acme.project.pk]),
        {
            "role": ["system", "user"],
            "content": ["You answer {{tone}}.", "What is {{thing}}?"],
            "variable_name": ["tone", "thing"],
            "variable_value": ["briefly", "a prompt registry"],
            "connection": connection.pk,
            "model": "local-echo",
            "temperature": "0.3",
            "max_tokens": "50",
            "parameters": '{"seed": 7, "top_k": 4}',
        },
        **SSE,
    )
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    events = _sse(response)
    names = [name for name, _ in events]
    assert names[0] == "start" and names[-1] == "done" and names.count("delta") > 3
    text = "".join(payload["text"] for name, payload in events if name == "delta")
    assert text == "Echo: What is a prompt registry?"
    done = events[-1][1]
    assert done["usage"] == {"input": 8, "output": 6, "total": 14}  # the local server counts words
    assert done["latency_ms"] >= done["ttft_ms"] >= 0 and done["finish_reason"] == "stop"

    sent = llm_server.requests[-1]["body"]
    assert sent["messages"] == [
        {"role": "system", "content": "You answer briefly."},
        {"role": "user", "content": "What is a prompt registry?"},
    ]
    assert sent["temperature"] == 0.3 and sent["max_tokens"] == 50 and sent["seed"] == 7 and sent["top_k"] == 4
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}


def test_playground_run_errors_are_clear(bob_client: Client, acme: Any, globex: Any, llm_server: LLMServer) -> None:
    url = reverse("prompt-playground-run", args=[acme.project.pk])
    form = {"role": "user", "content": "hi", "model": "local-echo"}
    missing = bob_client.post(url, form, **SSE)
    assert missing.status_code == 400 and missing.json()["field"] == "connection"
    foreign = llm_connection_create(
        project=globex.project,
        name="Theirs",
        provider="openai-compatible",
        base_url=llm_server.url,
        api_key=DEFAULT_API_KEY,
        actor=None,
    )
    assert bob_client.post(url, {**form, "connection": foreign.pk}, **SSE).json()["field"] == "connection"
    connection = _connection(acme, llm_server)
    bad = bob_client.post(url, {**form, "connection": connection.pk, "parameters": "{oops"}, **SSE)
    assert bad.status_code == 400 and bad.json()["field"] == "parameters"
    assert "not valid JSON" in bad.json()["message"]
    assert (
        bob_client.post(url, {**form, "connection": connection.pk, "temperature": "warm"}, **SSE).json()["field"]
        == "temperature"
    )
    assert bob_client.post(url, {**form, "connection": connection.pk, "model": ""}, **SSE).json()["field"] == "model"

    unknown = _sse(bob_client.post(url, {**form, "connection": connection.pk, "model": "gpt-9"}, **SSE))
    assert unknown[-1][0] == "error" and "check the model or deployment “gpt-9”" in unknown[-1][1]["message"]
    llm_server.api_key = "sk-rotated-elsewhere"  # the provider no longer accepts the stored key
    refused = _sse(bob_client.post(url, {**form, "connection": connection.pk}, **SSE))
    assert refused[-1][0] == "error" and "refused the API key" in refused[-1][1]["message"]


def test_playground_without_javascript_shows_the_whole_answer(
    bob_client: Client, acme: Any, llm_server: LLMServer
) -> None:
    connection = _connection(acme, llm_server)
    page = bob_client.post(
        reverse("prompt-playground-run", args=[acme.project.pk]),
        {"role": "user", "content": "<b>hello</b>", "connection": connection.pk, "model": "local-small"},
    ).content.decode()
    assert "Echo: &lt;b&gt;hello&lt;/b&gt;" in page and "<html" in page
    assert 'data-stat="output">2<' in page


def test_open_in_playground_prefill_from_a_generation(bob_client: Client, acme: Any, llm_server: LLMServer) -> None:
    _connection(acme, llm_server)
    url = reverse("prompt-playground", args=[acme.project.pk])
    messages = [
        {"role": "system", "content": "You are <terse>."},
        {"role": "user", "content": [{"type": "text", "text": "Capital of {{country}}?"}]},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function"}]},
    ]
    page = bob_client.post(
        url,
        {
            "messages": orjson.dumps(messages).decode(),
            "model": "local-small",
            "parameters": '{"temperature": "0.2", "max_tokens": 64, "seed": 3}',
            "variables": '{"country": "France"}',
        },
    ).content.decode()
    assert "You are &lt;terse&gt;." in page and "Capital of {{country}}?" in page
    assert '<option value="assistant" selected>' in page and "&quot;id&quot;: &quot;c1&quot;" in page
    assert 'value="local-small"' in page and 'value="0.2"' in page and 'value="64"' in page
    assert "&quot;seed&quot;: 3" in page
    assert 'name="variable_name" value="country"' in page and ">France</textarea>" in page

    for raw, expected in [
        ('{"messages": [{"role": "user", "content": "wrapped"}]}', "wrapped"),
        ('"just text"', "just text"),
        ('{"role": "developer", "content": "one message"}', "one message"),
    ]:
        body = bob_client.post(url, {"messages": raw}).content.decode()
        assert expected in body
    assert bob_client.post(url, {"messages": "[not json"}).status_code == 400


def test_playground_loads_a_prompt_version_and_saves_a_new_one(
    bob_client: Client, acme: Any, llm_server: LLMServer
) -> None:
    _connection(acme, llm_server)
    _version(acme, "support/answer", _chat("Be kind."), config={"model": "local-small", "temperature": 0.5})
    url = reverse("prompt-playground", args=[acme.project.pk])
    page = bob_client.get(url, {"prompt": "support/answer", "version": 1}).content.decode()
    assert "Be kind." in page and 'value="local-small"' in page and 'value="0.5"' in page
    assert "Loaded from" in page and 'value="support/answer"' in page
    assert bob_client.get(url, {"prompt": "support/missing"}).status_code == 404

    saved = bob_client.post(
        reverse("prompt-playground-save", args=[acme.project.pk]),
        {
            "role": ["system", "user"],
            "content": ["Be very kind.", "{{question}}"],
            "model": "local-echo",
            "temperature": "0.9",
            "parameters": '{"seed": 1}',
            "prompt_name": "support/answer",
            "prompt_type": "chat",
            "commit_message": "From the playground",
        },
    )
    assert saved.status_code == 302
    version = PromptVersion.objects.get(prompt__name="support/answer", version=2)
    assert version.content[0] == {"role": "system", "content": "Be very kind."}
    assert version.config == {"seed": 1, "temperature": 0.9, "model": "local-echo"}
    assert version.commit_message == "From the playground" and version.author.email == "bob@example.com"

    refused = bob_client.post(
        reverse("prompt-playground-save", args=[acme.project.pk]),
        {"role": ["user"], "content": ["x"], "prompt_name": "support/answer", "prompt_type": "text"},
    )
    assert refused.status_code == 400 and "is a chat prompt" in refused.content.decode()


class _FormFields(HTMLParser):
    """The fields a browser submits from one form of a page (the first whose attributes include `match`):
    named inputs, each select's selected option and textareas, in document order; <template> content is not
    part of the form."""

    def __init__(self, match: tuple[str, str]) -> None:
        super().__init__(convert_charrefs=True)
        self.match = match
        self.fields: list[tuple[str, str]] = []
        self._state = "before"
        self._select: str | None = None
        self._textarea: list[str] | None = None
        self._template = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "form" and self._state == "before" and found.get(self.match[0]) == self.match[1]:
            self._state = "in"
        if self._state != "in":
            return
        self._template += tag == "template"
        if self._template:
            return
        if tag == "input" and found.get("name") and found.get("type") not in ("submit", "button", "checkbox"):
            self.fields.append((found["name"], found.get("value", "")))
        elif tag == "select":
            self._select = found.get("name")
        elif tag == "option" and self._select and "selected" in found:
            self.fields.append((self._select, found.get("value", "")))
        elif tag == "textarea" and found.get("name"):
            self._textarea = [found["name"], ""]

    def handle_endtag(self, tag: str) -> None:
        if self._state != "in":
            return
        if tag == "template":
            self._template -= 1
        elif tag == "form":
            self._state = "after"
        elif tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self.fields.append((self._textarea[0], self._textarea[1]))
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea[1] += data


def _form_data(page: str, match: tuple[str, str]) -> dict[str, list[str]]:
    parser = _FormFields(match)
    parser.feed(page)
    assert parser._state == "after", f"no form with {match}"
    data: dict[str, list[str]] = {}
    for name, value in parser.fields:
        data.setdefault(name, []).append(value)
    return data


TEMPLATE_CHAT = [
    {
        "role": "system",
        "content": "You are {{persona}}. Be {{ tone }}. @@@langfusePrompt:name=shared/tone|label=production@@@",
    },
    {"type": "placeholder", "name": "history"},
    {"role": "user", "content": "Question: {{question}}\n(Repeat: {{question}})"},
]
RECORDED_CHAT = [
    {"role": "system", "content": "You are a pirate. Be terse. Always cite sources."},
    {"role": "user", "content": "hi"},
    {"role": "assistant", "content": "Ahoy."},
    {"role": "user", "content": "Question: Where is the <gold>?\n(Repeat: Where is the <gold>?)"},
]


def _recorded_generation(tenant: Any, trace: str, messages: Any, prompt: tuple[str, int] | None) -> None:
    body: dict[str, Any] = {
        "id": f"{trace}-gen",
        "traceId": trace,
        "startTime": "2026-11-20T12:00:00Z",
        "model": "local-echo",
        "modelParameters": {"temperature": "0.4"},
        "input": messages,
    }
    if prompt:
        body.update(promptName=prompt[0], promptVersion=prompt[1])
    _ingest(
        tenant,
        [
            {"id": f"{trace}-t", "type": "trace-create", "timestamp": "2026-11-20T12:00:00Z", "body": {"id": trace}},
            {"id": f"{trace}-g", "type": "generation-create", "timestamp": "2026-11-20T12:00:00Z", "body": body},
        ],
    )


def _open_in_playground(client: Client, tenant: Any, trace: str) -> tuple[dict[str, list[str]], str]:
    """Clicks "Open in playground" on the trace page: the button's form, posted as the browser posts it."""
    pid = tenant.project.pk
    detail = client.get(reverse("trace-detail", args=[pid, trace]), {"observation": f"{trace}-gen"}).content.decode()
    prefill = _form_data(detail, ("class", "open-in-playground"))
    page = client.post(reverse("prompt-playground", args=[pid]), prefill)
    assert page.status_code == 200
    return prefill, page.content.decode()


def test_open_in_playground_opens_the_recorded_prompt_version_with_its_variables(
    bob_client: Client, acme: Any, globex: Any, llm_server: LLMServer
) -> None:
    _connection(acme, llm_server)
    _version(acme, "shared/tone", "Always cite sources.", labels=["production"])
    _version(acme, "support/answer", TEMPLATE_CHAT, config={"model": "local-small"})
    _version(globex, "support/answer", [{"role": "user", "content": "{{anything}}"}])  # another project's
    _recorded_generation(acme, "t-recorded", RECORDED_CHAT, ("support/answer", 1))

    prefill, page = _open_in_playground(bob_client, acme, "t-recorded")
    assert prefill["prompt_name"] == ["support/answer"] and prefill["prompt_version"] == ["1"]
    assert "Loaded from" in page and "support/answer v1</a>" in page
    assert "The variables are filled from the generation&#x27;s recorded messages." in page
    form = _form_data(page, ("id", "playground"))
    # The version's messages as written (variables, placeholder, included prompt's tag) ...
    assert form["role"] == ["system", "placeholder", "user"]
    assert form["content"] == [m.get("content", m.get("name")) for m in TEMPLATE_CHAT]
    # ... the values recovered from the recorded ones, and the recorded call's model and parameters.
    assert dict(zip(form["variable_name"], form["variable_value"], strict=True)) == {
        "persona": "a pirate",
        "tone": "terse",
        "question": "Where is the <gold>?",
    }
    assert orjson.loads(form["placeholder_fill"][0]) == RECORDED_CHAT[1:3]
    assert form["model"] == ["local-echo"] and form["temperature"] == ["0.4"]
    assert form["prompt_name"] == ["support/answer"]  # Save makes the next version of it

    # Run as the page posts it: exactly the recorded messages go out again.
    run = bob_client.post(reverse("prompt-playground-run", args=[acme.project.pk]), form, **SSE)
    assert _sse(run)[-1][0] == "done"
    assert llm_server.requests[-1]["body"]["messages"] == RECORDED_CHAT


@pytest.mark.parametrize(
    ("recorded", "prompt", "notice"),
    [
        (  # the system message was edited after the fetch: no faithful match
            [{**RECORDED_CHAT[0], "content": "You are a pirate! Always cite sources."}, *RECORDED_CHAT[1:]],
            ("support/answer", 1),
            "The recorded messages do not match support/answer v1: they are shown as recorded.",
        ),
        (RECORDED_CHAT, ("support/answer", 9), "support/answer v9 is not in this project&#x27;s registry"),
        (RECORDED_CHAT, ("globex/only", 1), "globex/only v1 is not in this project&#x27;s registry"),
        (RECORDED_CHAT, None, ""),
    ],
)
def test_open_in_playground_falls_back_to_the_recorded_messages(
    bob_client: Client, acme: Any, globex: Any, recorded: list[dict[str, str]], prompt: Any, notice: str
) -> None:
    _version(acme, "shared/tone", "Always cite sources.", labels=["production"])
    _version(acme, "support/answer", TEMPLATE_CHAT)
    _version(globex, "globex/only", [{"role": "user", "content": "{{x}}"}])
    _recorded_generation(acme, "t-fallback", recorded, prompt)
    _, page = _open_in_playground(bob_client, acme, "t-fallback")
    form = _form_data(page, ("id", "playground"))
    assert form["role"] == [m["role"] for m in recorded] and form["content"] == [m["content"] for m in recorded]
    assert "placeholder_fill" not in form and "Loaded from" not in page
    assert notice in page and ("playground-notice" in page) == bool(notice)


def test_open_in_playground_gives_up_quickly_on_a_long_message_that_does_not_match(
    bob_client: Client, acme: Any
) -> None:
    """Recorded input is whatever was ingested: matching it against a version with several variables is a
    bounded search (a regex of `.*?` groups took minutes on this), then the recorded messages as they are."""
    _version(acme, "many", [{"role": "user", "content": " ".join(f"{{{{v{i}}}}}" for i in range(6)) + "!"}])
    recorded = [{"role": "user", "content": " ".join(["word"] * 20_000)}]  # no "!": it cannot match
    prefill = {"messages": orjson.dumps(recorded).decode(), "prompt_name": "many", "prompt_version": "1"}
    started = time.monotonic()
    page = bob_client.post(reverse("prompt-playground", args=[acme.project.pk]), prefill).content.decode()
    assert time.monotonic() - started < 5
    assert "The recorded messages do not match many v1" in page and "Loaded from" not in page


def test_playground_inputs_with_unicode_digits_are_no_500(bob_client: Client, acme: Any) -> None:
    """str.isdigit() passes "²", which int() refuses: the playground's numbers are ASCII digits."""
    _version(acme, "sq", _chat("v1"))
    url = reverse("prompt-playground", args=[acme.project.pk])
    prefill = {"messages": '[{"role": "user", "content": "x"}]', "prompt_name": "sq", "prompt_version": "²"}
    assert bob_client.post(url, prefill).status_code == 200
    assert bob_client.get(url, {"prompt": "sq", "version": "²"}).status_code == 200
    run = {"role": ["user"], "content": ["x"], "model": "m", "connection": "²"}
    assert bob_client.post(reverse("prompt-playground-run", args=[acme.project.pk]), run).status_code == 400
    detail = reverse("prompt-detail", args=[acme.project.pk, "sq"])
    assert bob_client.get(detail, {"version": "²", "before": "²"}).status_code == 200


def test_playground_keeps_placeholders_fills_them_on_run_and_resolves_included_prompts(
    bob_client: Client, acme: Any, llm_server: LLMServer
) -> None:
    connection = _connection(acme, llm_server)
    _version(acme, "shared/tone", "Always cite sources.", labels=["production"])
    _version(acme, "support/answer", TEMPLATE_CHAT, config={"model": "local-echo"})
    pid = acme.project.pk
    page = bob_client.get(reverse("prompt-playground", args=[pid]), {"prompt": "support/answer", "version": 1})
    assert 'data-pg-placeholder="history"' in page.content.decode()
    form = _form_data(page.content.decode(), ("id", "playground"))
    assert form["role"] == ["system", "placeholder", "user"] and form["placeholder_fill"] == [""]
    form.update(
        connection=[str(connection.pk)],
        variable_name=["persona", "tone", "question"],
        variable_value=["a clerk", "brief", "Why?"],
    )
    run_url = reverse("prompt-playground-run", args=[pid])

    history = [{"role": "user", "content": "earlier"}, {"role": "assistant", "content": "noted"}]
    filled = bob_client.post(run_url, {**form, "placeholder_fill": [orjson.dumps(history).decode()]}, **SSE)
    assert _sse(filled)[-1][0] == "done"
    system = {"role": "system", "content": "You are a clerk. Be brief. Always cite sources."}  # the tag resolved
    question = {"role": "user", "content": "Question: Why?\n(Repeat: Why?)"}
    assert llm_server.requests[-1]["body"]["messages"] == [system, *history, question]

    assert _sse(bob_client.post(run_url, form, **SSE))[-1][0] == "done"  # empty: left out
    assert llm_server.requests[-1]["body"]["messages"] == [system, question]

    for fill, message in [("[oops", "not valid JSON"), ('{"role": "user"}', "a JSON list of messages")]:
        bad = bob_client.post(run_url, {**form, "placeholder_fill": [fill]}, **SSE)
        assert bad.status_code == 400 and bad.json()["field"] == "placeholder_fill[0]"
        assert message in bad.json()["message"]
    missing = {**form, "content": ["@@@langfusePrompt:name=shared/gone|label=production@@@", "history", "x"]}
    refused = bob_client.post(run_url, missing, **SSE)
    assert refused.status_code == 400 and refused.json()["field"] == "messages"
    assert "Referenced prompt not found: 'shared/gone'" in refused.json()["message"]

    # Save keeps what was written: the placeholder entry and the included prompt's tag.
    save_url = reverse("prompt-playground-save", args=[pid])
    saved = bob_client.post(save_url, {**form, "commit_message": "kept"})
    assert saved.status_code == 302
    assert PromptVersion.objects.get(prompt__name="support/answer", version=2).content == TEMPLATE_CHAT
    as_text = bob_client.post(
        save_url, {**form, "role": ["placeholder"], "content": ["history"], "prompt_name": "t", "prompt_type": "text"}
    )
    assert as_text.status_code == 400 and "A text prompt is one message" in as_text.content.decode()


def test_trace_generations_offer_open_in_playground(alice_client: Client, acme: Any) -> None:
    messages = [{"role": "user", "content": 'Say "hi" & <wave>'}]
    _ingest(
        acme,
        [
            {"id": "e1", "type": "trace-create", "timestamp": "2026-11-20T12:00:00Z", "body": {"id": "t-open"}},
            {
                "id": "e2",
                "type": "generation-create",
                "timestamp": "2026-11-20T12:00:00Z",
                "body": {
                    "id": "g-open",
                    "traceId": "t-open",
                    "startTime": "2026-11-20T12:00:00Z",
                    "model": "gpt-4o-mini",
                    "modelParameters": {"temperature": 0.3},
                    "input": messages,
                },
            },
            {
                "id": "e3",
                "type": "span-create",
                "timestamp": "2026-11-20T12:00:00Z",
                "body": {"id": "s-open", "traceId": "t-open", "startTime": "2026-11-20T12:00:00Z", "input": "x"},
            },
        ],
    )
    detail = reverse("trace-detail", args=[acme.project.pk, "t-open"])
    page = alice_client.get(detail, {"observation": "g-open"}).content.decode()
    playground_url = reverse("prompt-playground", args=[acme.project.pk])
    form = page.split(f'action="{playground_url}"')[1].split("</form>")[0]
    # The recorded input, escaped into the hidden field, is exactly what the playground receives.
    escaped = orjson.dumps(messages).decode().replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert f'name="messages" value="{escaped.replace(chr(34), "&quot;")}"' in form
    assert 'name="model" value="gpt-4o-mini"' in form and "&quot;temperature&quot;:0.3" in form
    fragment = alice_client.get(
        reverse("observation-body", args=[acme.project.pk]), {"trace_id": "t-open", "id": "g-open"}, **HTMX
    ).content.decode()
    assert "Open in playground" in fragment and "<html" not in fragment  # the span panel swapped in by htmx
    span = alice_client.get(detail, {"observation": "s-open"}).content.decode()
    assert "Open in playground" not in span


def test_versions_timeline_pages_by_keyset_with_constant_queries(alice_client: Client, acme: Any) -> None:
    url = reverse("prompt-detail", args=[acme.project.pk, "busy"])
    for number in range(1, 4):
        _version(acme, "busy", f"text {number}", labels=["staging"], commit_message=f"commit {number}")
    alice_client.get(url)  # the first visit also stores the project in the session
    with CaptureQueriesContext(connection) as few:
        alice_client.get(url)
    for number in range(4, 61):
        _version(acme, "busy", f"text {number}", labels=["staging"], commit_message=f"commit {number}")
    with CaptureQueriesContext(connection) as many:
        page = alice_client.get(url).content.decode()
    assert len(many) == len(few)  # not one query per version or label
    assert 'data-testid="version-60"' in page and 'data-testid="version-11"' in page
    assert 'data-testid="version-10"' not in page and "?before=11&amp;version=60" in page
    older = alice_client.get(url, {"before": 11, "version": 3}).content.decode()
    assert 'data-testid="version-10"' in older and 'data-testid="version-1"' in older
    assert 'data-testid="version-11"' not in older and "older-versions" not in older
    assert "text 3" in older  # the selected version's content
    assert alice_client.get(url, {"version": 999}).status_code == 404
