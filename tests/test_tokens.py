"""Usage counted offline for generations sent without it, marked as counted; unknown where no tokenizer fits."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import quicktok
from django.test import Client
from django.urls import reverse

from tests.conftest import Tenant
from tests.test_ingest_langfuse import event, statuses
from tests.test_ingest_langfuse import post as post_langfuse
from tests.test_ingest_otlp import attr, post, to_protobuf
from traces.models import Observation
from traces.tokens import encoding_for, tokens_count

pytestmark = pytest.mark.django_db
CHAT = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say hello in French."}]
ANSWER = [{"role": "assistant", "content": "Bonjour !"}]


@pytest.fixture(autouse=True)
def _plain_static_storage(settings: Any) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o-mini", "o200k_base"),
        ("openai/gpt-4.1-2025-04-14", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-3.5-turbo-0125", "cl100k_base"),
        ("text-embedding-3-small", "cl100k_base"),
        ("gpt-oss-120b", "o200k_harmony"),
        ("meta-llama/Llama-3.1-70B-Instruct", "llama3"),
        ("qwen3-32b", "qwen3"),
        ("claude-sonnet-4-5", None),
        ("my-local-model", None),
        ("", None),
    ],
)
def test_encoding_for_model(model: str, encoding: str | None) -> None:
    assert encoding_for(model) == encoding


def test_chat_counts_follow_openais_framing() -> None:
    o200k = quicktok.get_encoding("o200k_base")
    # 3 per message, the role and content tokens, 3 to prime the reply (OpenAI's published rule).
    expected = 3 + sum(3 + o200k.count(m["role"]) + o200k.count(m["content"]) for m in CHAT)
    assert tokens_count(CHAT, "o200k_base", prompt=True) == expected
    assert tokens_count([{"role": "user", "content": "hello world"}], "o200k_base", prompt=True) == 9
    assert tokens_count("hello world", "o200k_base", prompt=False) == 2
    assert tokens_count({"text": "hello world", "n": None}, "cl100k_base", prompt=False) == 2


def _otlp_generation(model: str, usage: bool = False) -> tuple[bytes, str]:
    trace_id, span_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    now = time.time_ns()
    attributes = [
        attr("gen_ai.operation.name", "chat"),
        attr("gen_ai.request.model", model),
        attr("gen_ai.input.messages", '[{"role": "user", "parts": [{"type": "text", "content": "Say hello."}]}]'),
        attr("gen_ai.output.messages", '[{"role": "assistant", "parts": [{"type": "text", "content": "Hello!"}]}]'),
    ]
    if usage:
        attributes += [attr("gen_ai.usage.input_tokens", 1000), attr("gen_ai.usage.output_tokens", 500)]
    span = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": "chat",
        "kind": 3,
        "startTimeUnixNano": str(now - 2_000_000_000),
        "endTimeUnixNano": str(now),
        "attributes": attributes,
    }
    payload = {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": [span]}]}]}
    return to_protobuf(payload), span_id


def test_otlp_generation_without_usage_is_counted_priced_and_marked(acme: Tenant, client: Client) -> None:
    body, span_id = _otlp_generation("gpt-4o-mini")
    assert post(client, acme, body).status_code == 200
    obs = Observation.objects.get(project=acme.project, id=span_id)
    o200k = quicktok.get_encoding("o200k_base")
    # The input's text parts and roles with the framing; the output as text.
    assert obs.usage == {
        "input": 3 + 3 + o200k.count("user") + o200k.count("text Say hello."),
        "output": o200k.count("assistant text Hello!"),
        "total": obs.usage["input"] + obs.usage["output"],
    }
    assert obs.input_tokens == obs.usage["input"] and obs.total_tokens == obs.usage["total"]
    assert obs.metadata["usage_counted"] == "o200k_base"
    assert obs.cost_source == "computed" and obs.price_id is not None and obs.total_cost > 0


def test_provided_usage_is_kept_and_not_marked(acme: Tenant, client: Client) -> None:
    body, span_id = _otlp_generation("gpt-4o-mini", usage=True)
    assert post(client, acme, body).status_code == 200
    obs = Observation.objects.get(project=acme.project, id=span_id)
    assert obs.usage == {"input": 1000, "output": 500, "total": 1500}
    assert "usage_counted" not in obs.metadata


def test_a_model_no_tokenizer_covers_keeps_usage_unknown(acme: Tenant, client: Client) -> None:
    body, span_id = _otlp_generation("my-local-model")
    assert post(client, acme, body).status_code == 200
    obs = Observation.objects.get(project=acme.project, id=span_id)
    assert obs.usage is None and obs.total_tokens is None and obs.total_cost is None
    assert "usage_counted" not in obs.metadata


def test_langfuse_create_and_update_are_counted_once_merged(acme: Tenant, client: Client) -> None:
    """A generation-create without its end is not counted short; with its update in the batch, the merged
    input and output are, and the create's metadata survives the marker."""
    trace = uuid.uuid4().hex
    batch = [
        event("trace-create", {"id": trace, "name": "t"}),
        event(
            "generation-create",
            {
                "id": "gen-merged",
                "traceId": trace,
                "model": "gpt-4o",
                "input": CHAT,
                "metadata": {"feature": "greeting"},
                "startTime": datetime.now(UTC).isoformat(),
            },
        ),
        event(
            "generation-update",
            {"id": "gen-merged", "traceId": trace, "output": ANSWER[0], "endTime": datetime.now(UTC).isoformat()},
        ),
        event(
            "generation-create",
            {
                "id": "gen-open",
                "traceId": trace,
                "model": "gpt-4o",
                "input": CHAT,
                "startTime": (datetime.now(UTC) - timedelta(seconds=1)).isoformat(),
            },
        ),
    ]
    statuses(post_langfuse(client, acme, {"batch": batch}))
    merged = Observation.objects.get(project=acme.project, id="gen-merged")
    assert merged.usage["input"] == tokens_count(CHAT, "o200k_base", prompt=True)
    assert merged.usage["output"] == tokens_count(ANSWER[0], "o200k_base", prompt=False) > 0
    assert merged.metadata == {"feature": "greeting", "usage_counted": "o200k_base"}
    assert Observation.objects.get(project=acme.project, id="gen-open").usage is None


def test_span_panel_says_counted_or_unknown(acme: Tenant, alice_client: Client, client: Client) -> None:
    counted, counted_id = _otlp_generation("gpt-4o-mini")
    unknown, unknown_id = _otlp_generation("my-local-model")
    for body in (counted, unknown):
        assert post(client, acme, body).status_code == 200
    for span_id, testid, text in (
        (counted_id, "usage-counted", "o200k_base"),
        (unknown_id, "usage-unknown", "my-local-model"),
    ):
        obs = Observation.objects.get(project=acme.project, id=span_id)
        url = reverse("observation-body", args=[acme.project.pk]) + f"?trace_id={obs.trace_id}&id={span_id}"
        html = alice_client.get(url, HTTP_HX_REQUEST="true").content.decode()
        assert f'data-testid="{testid}"' in html and text in html
