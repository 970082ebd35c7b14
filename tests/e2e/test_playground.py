"""The playground in a real browser against a real local OpenAI-compatible server (tests/llm_server.py):
tokens stream into the page as the server sends them, and "Open in playground" on a trace's generation
brings back its messages and parameters so the call can be replayed; on a generation that recorded its
prompt version, the version's messages come back with the variables filled from the recorded ones.

Screenshots: /tmp/e2e-playground.png, /tmp/e2e-playground-replay.png, /tmp/e2e-playground-variables.png.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.test import Client

from projects.services import llm_connection_create
from prompts.models import PromptVersion
from prompts.services import prompt_version_create
from tests.conftest import Tenant
from tests.e2e.conftest import assert_only_local_requests, sign_in_as
from tests.llm_server import DEFAULT_API_KEY, LLMServer
from traces.pricing import model_price_create

pytestmark = pytest.mark.e2e

SCREENSHOTS = Path(tempfile.gettempdir())


@pytest.fixture
def slow_llm_server() -> Any:
    """Slow enough between tokens that the page can be seen half-way through an answer."""
    with LLMServer(chunk_delay=0.15) as server:
        yield server


def _connect(tenant: Tenant, server: LLMServer) -> None:
    llm_connection_create(
        project=tenant.project,
        name="Local test server",
        provider="openai-compatible",
        base_url=server.url,
        api_key=DEFAULT_API_KEY,
        model_names=["local-echo", "local-small"],
        actor=None,
    )


def _ingest_generation(tenant: Tenant, generation: dict[str, Any]) -> None:
    """One generation and its trace, through the Langfuse ingestion API."""
    at, trace = generation["startTime"], generation["traceId"]
    events = [
        {"id": f"{trace}-create", "type": "trace-create", "timestamp": at, "body": {"id": trace}},
        {"id": f"{generation['id']}-create", "type": "generation-create", "timestamp": at, "body": generation},
    ]
    response = Client().post(
        "/api/public/ingestion",
        data=orjson.dumps({"batch": events}),
        content_type="application/json",
        HTTP_AUTHORIZATION=tenant.basic_auth,
    )
    assert response.status_code == 207 and not response.json()["errors"]


def _wait_for_run(page: Any) -> None:
    page.wait_for_function(
        "['done', 'error'].includes(document.getElementById('playground').dataset.runState)", timeout=15_000
    )


def test_playground_streams_a_completion_and_saves_a_version(
    e2e_page: Any, live_server: Any, acme: Tenant, alice: Any, slow_llm_server: LLMServer
) -> None:
    page = e2e_page
    _connect(acme, slow_llm_server)
    # $1 / $2 per million input / output tokens: the run's cost comes from the project's price book.
    model_price_create(
        project=acme.project,
        model_name="local-echo",
        match_pattern="local-echo",
        prices={"input": 1e-6, "output": 2e-6},
    )
    sign_in_as(page, alice, live_server.url)
    page.goto(f"/p/{acme.project.pk}/prompts/playground/")

    page.locator("[data-pg-message] textarea").first.fill("You are a helpful assistant.")
    page.get_by_role("button", name="Add message").click()
    messages = page.locator("[data-pg-message]")
    assert messages.count() == 2
    assert messages.nth(1).locator("select").input_value() == "user"  # alternates after the system message
    messages.nth(1).locator("textarea").fill("Tell me about {{topic}} in a few short words please")
    variable = page.locator('[data-pg-variable="topic"] textarea')
    variable.wait_for()  # detected while typing
    variable.fill("streamed tokens")
    page.fill("#pg-model", "local-echo")
    page.fill("#pg-temperature", "0.2")

    page.get_by_role("button", name="Run", exact=True).click()
    # Half-way: some words are on the page while the run is still going.
    page.wait_for_function(
        "document.getElementById('playground').dataset.runState === 'running'"
        " && document.getElementById('pg-output').textContent.startsWith('Echo: Tell')"
    )
    partial = page.inner_text("#pg-output")
    _wait_for_run(page)
    final = page.inner_text("#pg-output")
    assert final == "Echo: Tell me about streamed tokens in a few short words please"
    assert len(partial) < len(final)
    assert page.get_attribute("#playground", "data-run-state") == "done"
    assert page.inner_text('[data-stat="input"]') == "16"  # the local server counts words
    assert page.inner_text('[data-stat="output"]') == "12"
    assert page.inner_text('[data-stat="latency"]').endswith(" ms")
    assert page.inner_text('[data-stat="ttft"]').endswith(" ms")
    cost = page.locator('[data-stat="cost"]')
    cost.filter(has_text="$").wait_for()
    assert cost.inner_text() == "$0.000040"  # 16 x $1/M + 12 x $2/M
    assert "project price" in (cost.get_attribute("title") or "")
    sent = slow_llm_server.requests[-1]["body"]
    assert sent["messages"][1]["content"] == "Tell me about streamed tokens in a few short words please"
    assert sent["temperature"] == 0.2
    page.screenshot(path=SCREENSHOTS / "e2e-playground.png", full_page=True)

    # A bad model is reported in the page, not as a broken stream.
    page.fill("#pg-model", "no-such-model")
    page.keyboard.press("Control+Enter")
    _wait_for_run(page)
    assert "no-such-model" in page.inner_text("#pg-run-error")

    # Save what works as the first version of a new prompt.
    page.fill("#pg-model", "local-echo")
    page.fill("#pg-prompt-name", "e2e/helper")
    page.fill("#pg-commit", "Tried in the playground")
    page.get_by_role("button", name="Save version").click()
    page.wait_for_url("**/prompt/e2e/helper?version=1")
    version = PromptVersion.objects.get(prompt__project=acme.project, prompt__name="e2e/helper")
    assert version.content[1] == {"role": "user", "content": "Tell me about {{topic}} in a few short words please"}
    assert version.config == {"temperature": 0.2, "model": "local-echo"}
    assert "Tried in the playground" in page.inner_text("[data-testid=selected-version]")
    assert_only_local_requests(page)


def test_open_in_playground_from_a_generation_replays_its_messages(
    e2e_page: Any, live_server: Any, acme: Tenant, alice: Any, llm_server: LLMServer
) -> None:
    page = e2e_page
    _connect(acme, llm_server)
    original = [
        {"role": "system", "content": "You answer in one word."},
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "And of <Italy>?"},
    ]
    _ingest_generation(
        acme,
        {
            "id": "replay-gen",
            "traceId": "replay-trace",
            "name": "llm-call",
            "startTime": "2026-11-23T10:00:00Z",
            "endTime": "2026-11-23T10:00:01Z",
            "model": "local-small",
            "modelParameters": {"temperature": "0.4", "max_tokens": 40},
            "input": original,
            "output": {"role": "assistant", "content": "Rome."},
        },
    )

    sign_in_as(page, alice, live_server.url)
    page.goto(f"/p/{acme.project.pk}/trace/replay-trace?observation=replay-gen")
    page.get_by_role("button", name="Open in playground").click()
    page.wait_for_url(f"**/p/{acme.project.pk}/prompts/playground/")

    rows = page.locator("[data-pg-message]")
    assert rows.count() == len(original)
    for index, message in enumerate(original):
        assert rows.nth(index).locator("select").input_value() == message["role"]
        assert rows.nth(index).locator("textarea").input_value() == message["content"]
    assert page.input_value("#pg-model") == "local-small"
    assert page.input_value("#pg-temperature") == "0.4"
    assert page.input_value("#pg-max-tokens") == "40"

    # Replay it, edited: the last question changes, the rest is the original conversation.
    rows.nth(3).locator("textarea").fill("And of Spain?")
    page.get_by_role("button", name="Run", exact=True).click()
    _wait_for_run(page)
    assert page.inner_text("#pg-output") == "Echo: And of Spain?"
    sent = llm_server.requests[-1]["body"]
    assert sent["messages"][:3] == original[:3]
    assert sent["temperature"] == 0.4 and sent["max_tokens"] == 40 and sent["model"] == "local-small"
    page.screenshot(path=SCREENSHOTS / "e2e-playground-replay.png", full_page=True)
    assert_only_local_requests(page)


def test_open_in_playground_on_a_prompt_generation_fills_the_variables(
    e2e_page: Any, live_server: Any, acme: Tenant, alice: Any, llm_server: LLMServer
) -> None:
    page = e2e_page
    _connect(acme, llm_server)
    template = [
        {"role": "system", "content": "You answer as {{persona}}, in {{ language }}."},
        {"type": "placeholder", "name": "history"},
        {"role": "user", "content": "Tell me about {{topic}}. Only {{topic}}!"},
    ]
    prompt_version_create(project=acme.project, name="support/answer", content=template)
    original = [
        {"role": "system", "content": "You answer as a pirate, in English."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Ahoy."},
        {"role": "user", "content": "Tell me about <treasure> & maps. Only <treasure> & maps!"},
    ]
    _ingest_generation(
        acme,
        {
            "id": "vars-gen",
            "traceId": "vars-trace",
            "name": "llm-call",
            "startTime": "2026-11-23T10:00:00Z",
            "model": "local-echo",
            "modelParameters": {"temperature": "0.3"},
            "promptName": "support/answer",
            "promptVersion": 1,
            "input": original,
        },
    )

    sign_in_as(page, alice, live_server.url)
    page.goto(f"/p/{acme.project.pk}/trace/vars-trace?observation=vars-gen")
    page.get_by_role("button", name="Open in playground").click()
    page.wait_for_url(f"**/p/{acme.project.pk}/prompts/playground/")
    assert "Loaded from support/answer v1" in page.inner_text(".page-header")

    # The version's messages, as written, and the placeholder filled with the history it stood for ...
    rows = page.locator("[data-pg-message]")
    assert rows.count() == 3
    assert rows.nth(0).locator("textarea").input_value() == template[0]["content"]
    assert rows.nth(1).locator("select").input_value() == "placeholder"
    assert orjson.loads(rows.nth(1).locator("textarea[name=placeholder_fill]").input_value()) == original[1:3]
    assert rows.nth(2).locator("textarea").input_value() == template[2]["content"]
    # ... and every variable filled with what the generation was sent (the page's script keeps them).
    values = {
        name: page.locator(f'[data-pg-variable="{name}"] textarea').input_value()
        for name in ("persona", "language", "topic")
    }
    assert values == {"persona": "a pirate", "language": "English", "topic": "<treasure> & maps"}
    assert page.locator("#pg-variables [data-pg-variable]").count() == 3
    assert page.input_value("#pg-model") == "local-echo" and page.input_value("#pg-temperature") == "0.3"
    page.screenshot(path=SCREENSHOTS / "e2e-playground-variables.png", full_page=True)

    # Run reproduces the original call exactly; a changed variable changes only its places.
    page.get_by_role("button", name="Run", exact=True).click()
    _wait_for_run(page)
    assert llm_server.requests[-1]["body"]["messages"] == original
    page.locator('[data-pg-variable="topic"] textarea').fill("gold")
    page.get_by_role("button", name="Run", exact=True).click()
    _wait_for_run(page)
    assert page.inner_text("#pg-output") == "Echo: Tell me about gold. Only gold!"
    assert llm_server.requests[-1]["body"]["messages"][:3] == original[:3]
    assert_only_local_requests(page)


def test_editor_lists_variables_checks_config_and_the_split_editor_sums(
    e2e_page: Any, live_server: Any, acme: Tenant, alice: Any
) -> None:
    page = e2e_page
    sign_in_as(page, alice, live_server.url)
    page.goto(f"/p/{acme.project.pk}/prompts/")
    page.get_by_role("link", name="New prompt").first.click()
    page.wait_for_url("**/prompts/editor/")  # loaded, scripts included, before typing
    page.fill("#editor-name", "e2e/greeting")
    page.select_option("#editor-type", "text")
    assert page.locator('[data-type-panel="chat"]').is_hidden()
    page.fill("#editor-text", "Hello {{name}}, welcome to {{ place }}.")
    page.locator('[data-pg-variable="place"]').wait_for()
    assert page.locator("#pg-variables .var-chip").all_inner_texts() == ["name", "place"]
    page.fill("#editor-config", '{"model": ')
    assert "Not valid JSON" in page.inner_text("[data-json-status]")
    page.fill("#editor-config", '{"model": "gpt-4o-mini"}')
    assert "Not valid JSON" not in page.inner_text("[data-json-status]")
    page.check("input[name=labels][value=production]")
    page.get_by_role("button", name="Save version").click()
    page.wait_for_url("**/prompt/e2e/greeting?version=1")
    assert "Hello {{name}}, welcome to {{ place }}." in page.inner_text("[data-testid=selected-version]")

    # A second version, then split production 70/30 from the prompt page.
    page.get_by_role("link", name="New version").click()
    page.wait_for_url(re.compile(r"/prompts/editor/\?name=e2e/greeting"))
    page.fill("#editor-text", "Hi {{name}}!")
    page.get_by_role("button", name="Save version").click()
    page.wait_for_url("**/prompt/e2e/greeting?version=2")
    production = page.locator("tr.split-row").nth(0)
    production.locator("summary").click()
    weights = production.locator("input[name=split_weight]")
    weights.nth(0).fill("70")
    production.locator("select[name=split_version]").nth(1).select_option("2")
    weights.nth(1).fill("20")
    assert production.locator("[data-split-total]").inner_text() == "90"
    weights.nth(1).fill("30")
    assert production.locator("[data-split-total]").inner_text() == "100"
    production.get_by_role("button", name="Save split").click()
    page.wait_for_url("**/prompt/e2e/greeting?version=2#labels")
    share = page.get_attribute("[data-testid=share-production]", "aria-label")
    assert share == "version 1 70%, version 2 30%"
    assert_only_local_requests(page)
