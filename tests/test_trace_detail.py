"""Trace detail: content rendered by shape and safely (traces/render.py), the page and the span fragment
through HTTP, tenancy, query counts, and a 2,000-span trace with megabyte payloads."""

from __future__ import annotations

import html as html_module
import json
import re
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.conftest import Tenant
from traces import render
from traces.models import ModelPrice
from traces.services import ObservationIn, ScoreIn, TraceIn, trace_batch_write

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _plain_static_storage(settings: Any) -> None:
    """Pages use {% static %}; without DEBUG the manifest storage needs collectstatic, which tests skip."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def _page(project_id: int, trace_id: str, observation: str | None = None) -> str:
    url = reverse("trace-detail", args=[project_id, trace_id])
    return url + (f"?observation={observation}" if observation else "")


def _body_url(project_id: int, trace_id: str, observation_id: str) -> str:
    return reverse("observation-body", args=[project_id]) + f"?trace_id={trace_id}&id={observation_id}"


# --- Shapes -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shape"),
    [
        (None, "empty"),
        ("", "empty"),
        ({}, "empty"),
        ([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}], "chat"),
        ({"role": "assistant", "content": "one message"}, "chat"),
        ({"messages": [{"role": "user", "content": "hi"}], "model": "x"}, "chat"),
        ([{"role": "user", "parts": [{"type": "text", "content": "GenAI parts"}]}], "chat"),
        ('[{"role": "user", "content": "a JSON string of messages"}]', "chat"),
        ("plain words, nothing else", "text"),
        ("# Heading\n\nSome **bold** text", "markdown"),
        ("- one\n- two", "markdown"),
        ({"query": "refund", "k": 3}, "json"),
        ([1, 2, 3], "json"),
        ([{"role": "user"}], "json"),  # a role without any content is not a message
        ("x" * (render.MARKDOWN_MAX_CHARS + 1) + "\n# big", "text"),
    ],
)
def test_detect_shape(value: Any, shape: str) -> None:
    assert render.detect_shape(value) == shape


def test_chat_shows_roles_tool_calls_results_and_images_by_reference() -> None:
    html = render.render_value(
        [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image_url", "image_url": {"url": "https://img.example.com/cat.png"}},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                    {"type": "image_url", "image_url": {"url": "javascript:alert(1)"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "cat"}'}}
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "a tabby cat"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "tu_1", "name": "search", "input": {"a": 1}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tu_1", "content": "found"}]},
        ]
    )
    assert [m for m in re.findall(r'data-role="(\w+)"', html)] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
    ]
    assert "<img" not in html  # images by reference only: nothing is fetched
    assert 'href="https://img.example.com/cat.png"' in html
    assert "inline image (image/png;base64" in html
    assert 'href="javascript' not in html and "javascript:alert(1)" in html  # shown as text, not a link
    assert html.count("tool call") == 2 and "<code>lookup</code>" in html and "<code>search</code>" in html
    assert '<span class="j-key">q</span>' in html  # string arguments parsed into a JSON tree
    assert "tool result" in html and "for call_1" in html and "a tabby cat" in html and "for tu_1" in html


def test_genai_parts_and_messages_wrapper() -> None:
    html = render.render_value(
        {
            "messages": [
                {"role": "assistant", "parts": [{"type": "tool_call", "id": "c9", "name": "calc", "arguments": {}}]},
                {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c9", "response": "42"}]},
            ],
            "temperature": 0.2,
        }
    )
    assert "<code>calc</code>" in html and "for c9" in html and "42" in html
    assert '<span class="j-key">temperature</span>' in html  # the other fields follow as JSON


def test_markdown_is_rendered_without_html_scripts_or_remote_images() -> None:
    html = render.render_value(
        "# Title\n\n<script>alert(1)</script>\n\n<b onmouseover=alert(2)>raw</b> [click](javascript:alert(3)) "
        "[ok](https://example.com/a) ![pixel](https://tracker.example.com/p.gif)\n\n| a | b |\n|---|---|\n| 1 | 2 |"
    )
    assert "<h1>Title</h1>" in html and "<table>" in html
    assert "<script" not in html and "<b " not in html
    assert not re.search(r"<[a-z][^>]*\son\w+=", html)  # no element carries an event handler
    assert "&lt;script&gt;" in html  # raw HTML is text
    assert 'href="javascript' not in html
    assert 'href="https://example.com/a"' in html and 'rel="noopener noreferrer nofollow"' in html
    assert "<img" not in html and 'href="https://tracker.example.com/p.gif"' in html and "image: pixel" in html


def test_plain_text_is_escaped_and_long_strings_are_clipped_with_an_expander() -> None:
    assert render.render_value("<img src=x onerror=alert(1)>") == (
        '<span class="txt">&lt;img src=x onerror=alert(1)&gt;</span>'
    )
    long = "<b>" + "y" * 1_000_000
    html = render.render_value(long)
    assert html.startswith('<details class="clip">') and "Show all 1,000,003 characters" in html
    assert "<b>" not in html and html.count("&lt;b&gt;") == 2  # the preview and the full text, both escaped


def test_json_tree_opens_the_first_levels_and_stops_at_the_node_budget() -> None:
    html = render.render_value({"a": {"b": {"c": [1, True, None, "s"]}}})
    assert html.count("<details") == 4 and html.count('<details class="j-node" open>') == 2
    assert '<span class="j-num">1</span>' in html and '<span class="j-lit">true</span>' in html
    assert '<span class="j-lit">null</span>' in html
    big = render.render_value(list(range(render.JSON_MAX_NODES + 500)))
    assert "more not shown" in big and big.count('class="j-row"') < render.JSON_MAX_NODES + 1


def test_safe_url_allows_only_http_and_https() -> None:
    assert render.safe_url("https://a.example/x?y=1") == "https://a.example/x?y=1"
    for bad in ("javascript:alert(1)", "JaVaScRiPt:alert(1)", "data:text/html,<script>", "//evil", "https://a b", 5):
        assert render.safe_url(bad) is None


def _span(n: str, parent: str | None, start: float, end: float | None, **extra: Any) -> dict[str, Any]:
    row = {
        "id": n,
        "parent_id": parent,
        "type": "SPAN",
        "name": n,
        "start_time": T0 + timedelta(milliseconds=start),
        "end_time": None if end is None else T0 + timedelta(milliseconds=end),
        "completion_start_time": None,
        "level": "DEFAULT",
        "total_cost": None,
    }
    return {**row, **extra}


def test_waterfall_orders_depth_first_and_places_bars_on_one_axis() -> None:
    spans = [
        _span("root", None, 0, 1000),
        _span("gen", "root", 100, 600, type="GENERATION", completion_start_time=T0 + timedelta(milliseconds=350)),
        _span("tool", "root", 200, 300, level="ERROR", total_cost=Decimal("0.0012")),
        _span("child-of-gen", "gen", 400, 500),
        _span("orphan", "not-arrived", 800, None),
        _span("a", "b", 900, 950),  # a parent cycle: a → b → a
        _span("b", "a", 910, 920),
    ]
    rows, axis = render.waterfall(spans, start=T0, end=T0 + timedelta(seconds=1))
    assert axis == 1000
    assert [(r.id, r.depth) for r in rows] == [
        ("root", 1),
        ("gen", 2),
        ("child-of-gen", 3),
        ("tool", 2),
        ("orphan", 1),
        ("a", 1),
        ("b", 2),
    ]
    by_id = {r.id: r for r in rows}
    assert [by_id[s["id"]].seq for s in spans] == [1, 2, 3, 4, 5, 6, 7]  # seq is the start order
    assert by_id["gen"].style == "--d:2;--x:10;--w:50;--f:50" and by_id["gen"].duration == "500ms"
    assert by_id["tool"].is_error and by_id["tool"].cost == "$0.0012"
    assert by_id["root"].has_children and not by_id["tool"].has_children
    assert by_id["orphan"].duration == "" and by_id["orphan"].style == "--d:1;--x:80;--w:0"


def test_waterfall_html_escapes_names_and_encodes_ids() -> None:
    spans = [
        _span('p"><script>', None, 0, 10, name="<script>alert(1)</script>", level="ERROR"),
        _span("c/1 &x", 'p"><script>', 2, 4, name=None, type="TOOL", total_cost=Decimal("0.5")),
    ]
    rows, _ = render.waterfall(spans, start=T0, end=None)
    html = render.waterfall_html(rows, selected="c/1 &x")
    assert "<script>" not in html and '<span class="nm">&lt;script&gt;alert(1)&lt;/script&gt;</span>' in html
    assert '<li class="sp t-SPAN err" style="--d:1;--x:0;--w:100" data-seq="1"><button' in html
    assert '<a href="?observation=p%22%3E%3Cscript%3E">' in html
    assert '<a href="?observation=c%2F1%20%26x" aria-current="true">' in html
    assert '<span class="nm">tool</span><span class="du">2ms</span><span class="du">$0.5000</span>' in html


def test_score_text() -> None:
    assert render.score_text(value=0.8, string_value=None, data_type="NUMERIC") == "0.8"
    assert render.score_text(value=1 / 3, string_value=None, data_type="NUMERIC") == "0.3333"
    assert render.score_text(value=1.0, string_value="True", data_type="BOOLEAN") == "True"
    assert render.score_text(value=2.0, string_value="correct", data_type="CATEGORICAL") == "correct"
    assert render.score_text(value=None, string_value=None, data_type="NUMERIC") == "—"


def test_usage_cost_rows_put_the_total_last_and_show_the_unit_price() -> None:
    rows = render.usage_cost_rows(
        {"total": 15, "input": 10, "output": 5}, {"input": 0.00002, "output": 0.0001}, {"input": 2e-06}
    )
    assert [(r.usage_type, r.tokens, r.cost, r.unit_price) for r in rows] == [
        ("input", 10, "$0.00002", "$2 / 1M"),
        ("output", 5, "$0.0001", ""),
        ("total", 15, "", ""),
    ]


# --- The page through HTTP ------------------------------------------------------------------------


@pytest.fixture
def rag(acme: Tenant, globex: Tenant) -> Tenant:
    """A RAG trace in acme (and one with the same id in globex, which acme must never show)."""
    price = ModelPrice.objects.create(
        project=acme.project,
        model_name="gpt-4o-mini",
        match_pattern="^gpt-4o-mini$",
        prices={"input": 1.5e-07, "output": 6e-07},
        effective_from=T0 - timedelta(days=30),
    )
    trace_batch_write(
        project_id=acme.project.pk,
        traces=[
            TraceIn(
                id="rag/1",
                timestamp=T0,
                name="support-chat",
                user_id="user-7",
                session_id="sess-9",
                tags=["prod", "rag"],
                environment="production",
                release="v2.3",
                input={"question": "TRACE-INPUT-MARK"},
                output="TRACE-OUTPUT-MARK",
            )
        ],
        observations=[
            ObservationIn(
                id="root", trace_id="rag/1", name="pipeline", start_time=T0, end_time=T0 + timedelta(seconds=2)
            ),
            ObservationIn(
                id="retrieve",
                trace_id="rag/1",
                parent_id="root",
                type="RETRIEVER",
                name="vector-search",
                start_time=T0 + timedelta(milliseconds=10),
                end_time=T0 + timedelta(milliseconds=200),
                input={"query": "RETRIEVER-INPUT-MARK"},
                output=[{"doc": "d1"}],
                level="WARNING",
                status_message="slow index",
            ),
            ObservationIn(
                id="llm",
                trace_id="rag/1",
                parent_id="root",
                type="GENERATION",
                name="answer",
                start_time=T0 + timedelta(milliseconds=300),
                completion_start_time=T0 + timedelta(milliseconds=700),
                end_time=T0 + timedelta(milliseconds=1900),
                model="gpt-4o-mini",
                model_parameters={"temperature": 0.3},
                input=[{"role": "user", "content": "GENERATION-INPUT-MARK"}],
                output={"role": "assistant", "content": "**Refunds** take 5 days"},
                usage={"input": 1000, "output": 200},
                cost={"input": 0.00015, "output": 0.00012, "total": 0.00027},
                cost_source="computed",
                price_id=price.pk,
                prompt_name="support-answer",
                prompt_version=4,
                metadata={"langgraph_node": "answer"},
            ),
            ObservationIn(
                id="fail",
                trace_id="rag/1",
                parent_id="root",
                type="TOOL",
                name="crm-lookup",
                start_time=T0 + timedelta(milliseconds=250),
                end_time=T0 + timedelta(milliseconds=280),
                level="ERROR",
                status_message="timeout after 30ms",
            ),
        ],
        scores=[ScoreIn(id="s1", name="helpfulness", value=0.8, timestamp=T0, trace_id="rag/1")],
    )
    trace_batch_write(
        project_id=globex.project.pk,
        traces=[TraceIn(id="rag/1", timestamp=T0, name="globex-secret-trace")],
        observations=[ObservationIn(id="llm", trace_id="rag/1", start_time=T0, input="GLOBEX-SECRET")],
    )
    return acme


def test_page_shows_header_tree_and_the_trace_body_but_no_span_bodies(rag: Tenant, bob_client: Client) -> None:
    response = bob_client.get(_page(rag.project.pk, "rag/1"))
    assert response.status_code == 200
    html = response.content.decode()
    pid = rag.project.pk
    # Each header value in its own element (a bare "prod" would also match "production", "rag" the id "rag/1").
    assert "<h1>support-chat</h1>" in html
    assert '<code id="trace-id">rag/1</code>' in html
    assert 'data-copy-target="#trace-id" aria-label="Copy trace id"' in html
    assert f'<a href="{reverse("user-detail", args=[pid, "user-7"])}">user-7</a>' in html
    assert 'data-copy="user-7" aria-label="Copy user id"' in html
    assert f'<a href="{reverse("session-detail", args=[pid, "sess-9"])}">sess-9</a>' in html
    assert 'data-copy="sess-9" aria-label="Copy session id"' in html
    assert "<dt>Environment</dt><dd>production</dd>" in html and "<dt>Release</dt><dd>v2.3</dd>" in html
    tags = re.findall(r'<span class="badge plain tag">([^<]*)</span>', html)
    assert tags == ["prod", "rag"]
    assert '<span class="badge badge-accent plain score-chip"' in html and ">helpfulness: 0.8</span>" in html
    assert 'data-testid="trace-latency">2.00s<' in html  # trace start → the last span's end
    assert 'data-testid="trace-cost">$0.00027<' in html  # the generation's cost, rolled up
    assert re.search(r'<dt>Tokens</dt><dd class="num"[^>]*>1,200 <span class="muted small">\(1,000 → 200\)', html)
    assert 'data-testid="trace-errors">1 error' in html
    # Rows in tree order with their type, level and bar; the TTFT marker on the generation.
    rows = re.findall(r'<li class="sp t-(\w+)( err| warn)?" style="([^"]*)" data-seq="(\d+)"', html)
    assert [(t, lvl.strip()) for t, lvl, _, _ in rows] == [
        ("TRACE", ""),
        ("SPAN", ""),
        ("RETRIEVER", "warn"),
        ("TOOL", "err"),
        ("GENERATION", ""),
    ]
    assert "--f:" in rows[4][2] and "--f:" not in rows[1][2]
    # The trace's own input and output are in the panel; no span's body is on the page.
    assert "TRACE-INPUT-MARK" in html and "TRACE-OUTPUT-MARK" in html
    for mark in ("RETRIEVER-INPUT-MARK", "GENERATION-INPUT-MARK", "slow index", "timeout after 30ms"):
        assert mark not in html
    score_panel = reverse("score-panel", args=[rag.project.pk])
    assert f'hx-get="{score_panel}?trace_id=rag%2F1"' in html
    assert "GLOBEX" not in html and "globex-secret-trace" not in html


def test_selected_span_is_in_the_url_and_rendered_by_shape(rag: Tenant, alice_client: Client) -> None:
    html = alice_client.get(_page(rag.project.pk, "rag/1", "llm")).content.decode()
    assert '<a href="?observation=llm" aria-current="true">' in html
    assert '<code id="observation-id">llm</code>' in html
    assert 'data-copy-target="#observation-id" aria-label="Copy span id"' in html
    assert "TRACE-INPUT-MARK" not in html and "RETRIEVER-INPUT-MARK" not in html
    assert 'data-role="user"' in html and "GENERATION-INPUT-MARK" in html  # chat
    assert "<strong>Refunds</strong>" in html  # markdown in the assistant message
    assert "gpt-4o-mini" in html and '<span class="j-key">temperature</span>' in html
    assert 'data-testid="ttft">400ms' in html
    assert 'data-testid="price-row"' in html and "^gpt-4o-mini$" in html and "this project's" in html
    assert "$0.15 / 1M" in html and "$0.00027" in html
    prompt_version = reverse("prompt-detail", args=[rag.project.pk, "support-answer"]) + "?version=4"
    assert f'<a href="{prompt_version}" data-testid="prompt-link">support-answer v4</a>' in html
    assert "{# generation actions #}" not in html  # a template comment, not output
    score_panel = reverse("score-panel", args=[rag.project.pk])
    assert f'hx-get="{score_panel}?trace_id=rag%2F1&amp;observation_id=llm"' in html
    assert '<span class="j-key">langgraph_node</span>' in html  # metadata


def test_span_fragment_for_htmx_and_a_redirect_for_everyone_else(rag: Tenant, alice_client: Client) -> None:
    url = _body_url(rag.project.pk, "rag%2F1", "fail")
    fragment = alice_client.get(url, **HTMX)
    assert fragment.status_code == 200
    html = fragment.content.decode()
    assert "<html" not in html and "crm-lookup" in html and "timeout after 30ms" in html
    assert 'class="badge badge-red">error' in html
    redirect = alice_client.get(url)
    assert redirect.status_code == 302 and redirect["Location"] == _page(rag.project.pk, "rag/1", "fail")
    trace_body = alice_client.get(reverse("observation-body", args=[rag.project.pk]) + "?trace_id=rag/1", **HTMX)
    assert "TRACE-INPUT-MARK" in trace_body.content.decode()


def test_an_unknown_span_in_the_url_is_explained_on_the_page(rag: Tenant, alice_client: Client) -> None:
    response = alice_client.get(_page(rag.project.pk, "rag/1", "nope"))
    assert response.status_code == 200 and "No span with this id in this trace" in response.content.decode()
    assert alice_client.get(_body_url(rag.project.pk, "rag/1", "nope"), **HTMX).status_code == 404


def test_unknown_or_foreign_traces_are_404(rag: Tenant, alice_client: Client, charlie_client: Client) -> None:
    acme_id, globex_id = rag.project.pk, None
    from traces.models import Trace

    globex_id = Trace.objects.exclude(project_id=acme_id).get(id="rag/1").project_id
    assert alice_client.get(_page(acme_id, "missing")).status_code == 404
    assert alice_client.get(_page(globex_id, "rag/1")).status_code == 404  # alice is not in globex
    assert charlie_client.get(_page(acme_id, "rag/1")).status_code == 404
    assert charlie_client.get(_body_url(acme_id, "rag/1", "llm"), **HTMX).status_code == 404
    # charlie's own project has a trace with the same id: his page shows his, never acme's.
    html = charlie_client.get(_page(globex_id, "rag/1")).content.decode()
    assert "globex-secret-trace" in html and "support-chat" not in html
    foreign_span = charlie_client.get(_body_url(globex_id, "rag/1", "llm"), **HTMX).content.decode()
    assert "GLOBEX-SECRET" in foreign_span and "GENERATION-INPUT-MARK" not in foreign_span
    assert alice_client.get(_body_url(acme_id, "other-trace", "llm"), **HTMX).status_code == 404


def _without_csrf(html: str) -> str:
    """The page minus its per-response CSRF tokens, so two responses can be compared whole."""
    html = re.sub(r'"X-CSRFToken": "[^"]*"', "", html)
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)


def test_a_missing_trace_says_what_happened_and_links_back(
    rag: Tenant, globex: Tenant, alice_client: Client, charlie_client: Client
) -> None:
    pid = rag.project.pk
    response = alice_client.get(_page(pid, "never-sent"))
    assert response.status_code == 404
    html = response.content.decode()
    assert "<h1>No such trace</h1>" in html
    assert 'data-testid="missing-what">No trace with id <code>never-sent</code> in project <strong>Support bot' in html
    assert "ingestion is synchronous" in html.lower() and "flush()" in html and "deleted" in html
    assert f'<a class="btn btn-primary" href="{reverse("trace-list", args=[pid])}" data-testid="missing-back">' in html
    assert "mistyped" not in html  # not the generic page

    # An id that exists only in another project reads exactly like one that exists nowhere.
    trace_batch_write(project_id=globex.project.pk, traces=[TraceIn(id="globex-only", timestamp=T0)])
    elsewhere = alice_client.get(_page(pid, "globex-only"))
    assert elsewhere.status_code == 404
    nowhere = alice_client.get(_page(pid, "nowhere-xx"))
    assert _without_csrf(elsewhere.content.decode()).replace("globex-only", "ID") == _without_csrf(
        nowhere.content.decode()
    ).replace("nowhere-xx", "ID")

    # A hostile id is text on the page.
    hostile = alice_client.get(_page(pid, "<script>alert(1)</script>")).content.decode()
    assert "<script>alert(1)" not in hostile and "<code>&lt;script&gt;alert(1)&lt;/script&gt;</code>" in hostile

    # An outsider gets the generic page: neither the project's name nor the id, nor any hint.
    outsider = charlie_client.get(_page(pid, "never-sent"))
    assert outsider.status_code == 404
    generic = outsider.content.decode()
    assert "This page doesn't exist" in generic and "mistyped" in generic
    for leak in ("Support bot", "never-sent", "No trace with id", "flush()"):
        assert leak not in generic, leak
    # Other 404s keep the generic page too.
    other = alice_client.get(f"/p/{pid}/no-such-page/")
    assert other.status_code == 404 and "This page doesn't exist" in other.content.decode()


def test_a_price_row_of_another_project_is_never_shown(rag: Tenant, globex: Tenant, alice_client: Client) -> None:
    from traces.models import Observation

    foreign = ModelPrice.objects.create(
        project=globex.project,
        model_name="globex-private-model",
        match_pattern="^globex$",
        prices={"input": 1.0},
        effective_from=T0,
    )
    Observation.objects.filter(project_id=rag.project.pk, id="llm").update(price_id=foreign.pk)
    html = alice_client.get(_page(rag.project.pk, "rag/1", "llm")).content.decode()
    assert "globex-private-model" not in html and 'data-testid="price-row"' not in html
    assert "$0.00027" in html  # the stored cost is still shown


def _wide_trace(project_id: int, trace_id: str, spans: int, payload: str = "") -> None:
    observations = [
        ObservationIn(
            id=f"{trace_id}-s{n}",
            trace_id=trace_id,
            parent_id=None if n == 0 else f"{trace_id}-s{(n - 1) // 4}",
            type="GENERATION" if n % 3 == 0 else "SPAN",
            name=f"step {n}",
            start_time=T0 + timedelta(milliseconds=n),
            end_time=T0 + timedelta(milliseconds=n + 50),
            completion_start_time=T0 + timedelta(milliseconds=n + 20) if n % 3 == 0 else None,
            level="ERROR" if n % 97 == 0 else None,
            usage={"input": 10, "output": 5},
            cost={"total": 0.0001},
            input=payload if n < 3 else {"n": n},
            output=payload if n < 3 else f"out {n}",
        )
        for n in range(spans)
    ]
    trace_batch_write(
        project_id=project_id, traces=[TraceIn(id=trace_id, timestamp=T0, name="wide")], observations=observations
    )


def test_queries_do_not_grow_with_the_number_of_spans(acme: Tenant, alice_client: Client) -> None:
    _wide_trace(acme.project.pk, "small", 3)
    _wide_trace(acme.project.pk, "big", 300)

    def queries(trace_id: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = alice_client.get(_page(acme.project.pk, trace_id, f"{trace_id}-s1"))
        assert response.status_code == 200
        return len(ctx.captured_queries)

    queries("small")  # the first request of a session also writes the session (the remembered project)
    assert queries("small") == queries("big")


def test_two_thousand_spans_with_megabyte_payloads(acme: Tenant, alice_client: Client) -> None:
    megabyte = "<script>alert(1)</script>" + "z" * 1_000_000
    _wide_trace(acme.project.pk, "huge", 2_000, payload=megabyte)
    url = _page(acme.project.pk, "huge")
    alice_client.get(url)  # warm: template loading and the connection are not what this measures
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        response = alice_client.get(url)
        timings.append(time.perf_counter() - started)
    html = response.content.decode()
    print(f"\n2,000-span trace page: {min(timings) * 1000:.0f} ms server time, {len(html):,} bytes of HTML")
    assert response.status_code == 200
    assert html.count('<li class="sp ') == 2_001  # the trace row and one row per span
    assert "zzzz" not in html and "<script>alert" not in html  # no span body ships with the page
    assert len(html) < 800_000  # about 350 bytes a row
    # One span's megabyte body on demand: escaped, clipped with an expander.
    fragment = alice_client.get(_body_url(acme.project.pk, "huge", "huge-s1"), **HTMX).content.decode()
    assert "Show all 1,000,025 characters" in fragment and "<script>alert" not in fragment


def test_a_trace_id_with_slashes_and_spaces_round_trips(acme: Tenant, alice_client: Client) -> None:
    trace_batch_write(
        project_id=acme.project.pk,
        traces=[TraceIn(id="weird id/with?chars#and%", timestamp=T0, name="odd")],
        observations=[ObservationIn(id="a b/c", trace_id="weird id/with?chars#and%", start_time=T0, input="ODD-MARK")],
    )
    url = reverse("trace-detail", args=[acme.project.pk, "weird id/with?chars#and%"])
    html = alice_client.get(url).content.decode()
    assert "odd" in html and '<a href="?observation=a%20b%2Fc">' in html
    fragment = alice_client.get(url + "?observation=a%20b%2Fc").content.decode()
    assert "ODD-MARK" in fragment


def test_a_large_generation_input_is_not_sent_twice_with_its_span(
    acme: Tenant, globex: Tenant, alice_client: Client, charlie_client: Client
) -> None:
    """The "Open in playground" form repeats a generation's input in a hidden field: up to
    PLAYGROUND_INLINE_MAX_CHARS it comes with the span; a larger one is fetched only when the button is used."""
    from traces.views_trace import PLAYGROUND_INLINE_MAX_CHARS

    pid = acme.project.pk
    big = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "q" * 1_000_000 + "END-MARK"}]
    small = [{"role": "user", "content": "SMALL-MARK"}]
    trace_batch_write(
        project_id=pid,
        traces=[TraceIn(id="pg", timestamp=T0)],
        observations=[
            ObservationIn(id="big", trace_id="pg", type="GENERATION", start_time=T0, model="m", input=big),
            ObservationIn(id="small", trace_id="pg", type="GENERATION", start_time=T0, model="m", input=small),
            ObservationIn(id="span", trace_id="pg", start_time=T0, input=big),
        ],
    )
    playground = reverse("prompt-playground", args=[pid])
    body_url = reverse("observation-body", args=[pid])

    fragment = alice_client.get(_body_url(pid, "pg", "big"), **HTMX).content.decode()
    assert fragment.count("END-MARK") == 1  # in the rendered message only
    assert 'name="messages"' not in fragment and f'action="{playground}"' not in fragment
    assert len(fragment) < 1_300_000  # was twice the input
    lazy = re.search(r'<form method="get" action="([^"]+)" class="open-in-playground" hx-get="([^"]+)"', fragment)
    assert lazy and lazy.group(1) == lazy.group(2) == body_url
    assert (
        '<input type="hidden" name="trace_id" value="pg"><input type="hidden" name="id" value="big">'
        '<input type="hidden" name="part" value="playground">'
    ) in fragment
    page = alice_client.get(_page(pid, "pg", "big")).content.decode()  # the page with the span selected, too
    assert page.count("END-MARK") == 1 and 'data-testid="playground-lazy"' in page

    # Asked for, the form carries the whole input, exactly as recorded; htmx gets the form alone.
    form = alice_client.get(body_url, {"trace_id": "pg", "id": "big", "part": "playground"}, **HTMX).content.decode()
    assert form.lstrip().startswith('<div class="playground-handoff" data-playground-handoff>')
    assert "<html" not in form and f'action="{playground}"' in form
    value = re.search(r'name="messages" value="([^"]*)"', form).group(1)
    assert json.loads(html_module.unescape(value)) == big
    full = alice_client.get(body_url, {"trace_id": "pg", "id": "big", "part": "playground"}).content.decode()
    assert "<html" in full and "in the playground</h1>" in full and 'data-testid="open-in-playground"' in full

    # A small input keeps the one-click form in the panel.
    assert len(orjson.dumps(small)) <= PLAYGROUND_INLINE_MAX_CHARS
    small_fragment = alice_client.get(_body_url(pid, "pg", "small"), **HTMX).content.decode()
    assert f'action="{playground}"' in small_fragment and "SMALL-MARK" in small_fragment
    assert 'data-testid="playground-lazy"' not in small_fragment

    # Only generations of this project's traces: a span, an unknown id, another project's trace, an outsider.
    assert alice_client.get(body_url, {"trace_id": "pg", "id": "span", "part": "playground"}, **HTMX).status_code == 404
    assert alice_client.get(body_url, {"trace_id": "pg", "id": "nope", "part": "playground"}, **HTMX).status_code == 404
    trace_batch_write(
        project_id=globex.project.pk,
        traces=[TraceIn(id="pg-g", timestamp=T0)],
        observations=[ObservationIn(id="g", trace_id="pg-g", type="GENERATION", start_time=T0, input=big)],
    )
    assert alice_client.get(body_url, {"trace_id": "pg-g", "id": "g", "part": "playground"}, **HTMX).status_code == 404
    assert (
        charlie_client.get(body_url, {"trace_id": "pg", "id": "big", "part": "playground"}, **HTMX).status_code == 404
    )
