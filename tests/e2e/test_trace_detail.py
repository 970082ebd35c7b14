"""Trace detail in a real browser: open a trace, select spans by click, step through with the keyboard
while the URL, the panel and the timeline cursor follow, fold the tree, and hostile content that must
never execute. Screenshots go to /tmp/e2e-trace-*.png."""

from __future__ import annotations

import json
import re
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import Tenant
from tests.e2e.conftest import assert_only_local_requests, sign_in_as
from traces.ingest import limits
from traces.models import Observation, ScoreConfig
from traces.services import ObservationIn, TraceIn, trace_batch_write

pytestmark = pytest.mark.e2e

SCREENSHOTS = Path(tempfile.gettempdir())
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _ms(n: int) -> datetime:
    return T0 + timedelta(milliseconds=n)


def _selected(page: Any) -> str | None:
    """The ?observation= of the page's URL (None on the trace itself)."""
    values = parse_qs(urlsplit(page.url).query).get("observation")
    return values[0] if values else None


def _wait_selected(page: Any, observation: str | None) -> None:
    deadline = time.monotonic() + 5
    while _selected(page) != observation and time.monotonic() < deadline:
        page.wait_for_timeout(25)
    assert _selected(page) == observation, page.url


def _wait_clipboard(page: Any, expected: str) -> None:
    """Waits until the system clipboard holds `expected` (the copy is a promise; it lands a moment later)."""
    deadline = time.monotonic() + 5
    text = None
    while time.monotonic() < deadline:
        text = page.evaluate("navigator.clipboard.readText()")
        if text == expected:
            return
        page.wait_for_timeout(25)
    assert text == expected


def _agent_trace(project_id: int) -> None:
    """plan (agent) → search (tool, error) + llm (generation) → format (span); a late event at the end.
    Start order: plan, search, llm, format, notify; tree order: plan, search, llm, format, notify."""
    trace_batch_write(
        project_id=project_id,
        traces=[TraceIn(id="agent-1", timestamp=T0, name="research agent", user_id="u-42", tags=["beta"])],
        observations=[
            ObservationIn(
                id="plan", trace_id="agent-1", type="AGENT", name="plan", start_time=_ms(0), end_time=_ms(900)
            ),
            ObservationIn(
                id="search",
                trace_id="agent-1",
                parent_id="plan",
                type="TOOL",
                name="web-search",
                start_time=_ms(20),
                end_time=_ms(200),
                input={"query": "SEARCH-BODY"},
                level="ERROR",
                status_message="rate limited",
            ),
            ObservationIn(
                id="llm",
                trace_id="agent-1",
                parent_id="plan",
                type="GENERATION",
                name="summarise",
                start_time=_ms(250),
                completion_start_time=_ms(400),
                end_time=_ms(800),
                model="gpt-4o",
                input=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "LLM-BODY"}],
                output={"role": "assistant", "content": "## Summary\n\n- point one"},
                usage={"input": 120, "output": 30},
            ),
            ObservationIn(
                id="format",
                trace_id="agent-1",
                parent_id="llm",
                name="format",
                start_time=_ms(810),
                end_time=_ms(850),
                output="FORMAT-BODY",
            ),
            ObservationIn(
                id="notify",
                trace_id="agent-1",
                type="EVENT",
                name="notify",
                start_time=_ms(950),
                end_time=_ms(1000),
                output="NOTIFY-BODY",
            ),
        ],
    )


def test_select_spans_and_step_through_with_the_keyboard(
    e2e_page: Any, live_server: Any, acme: Tenant, alice: Any
) -> None:
    page = e2e_page
    _agent_trace(acme.project.pk)
    ScoreConfig.objects.create(project=acme.project, name="accuracy", data_type="NUMERIC", min_value=0, max_value=1)
    sign_in_as(page, alice, live_server.url)
    page.goto(f"/p/{acme.project.pk}/trace/agent-1")
    assert page.get_by_role("heading", name="research agent", level=1).is_visible()
    assert page.locator("#wf > li").count() == 6  # the trace row and five spans
    assert page.locator("#span-panel").get_by_text("Input").first.is_visible()

    # The copy buttons put the ids on the clipboard.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.get_by_role("button", name="Copy trace id").click()
    _wait_clipboard(page, "agent-1")
    page.get_by_role("button", name="Copy user id").click()
    _wait_clipboard(page, "u-42")

    # Click a span: the URL names it and its body arrives from the fragment.
    page.locator("#wf a", has_text="summarise").click()
    _wait_selected(page, "llm")
    panel = page.locator("#span-panel")
    panel.get_by_text("LLM-BODY").wait_for()
    assert panel.locator(".msg[data-role=system]").is_visible() and panel.locator("h2", has_text="Summary").count()
    assert panel.get_by_test_id("ttft").inner_text() == "150ms"
    panel.get_by_role("button", name="Copy span id").click()
    _wait_clipboard(page, "llm")
    cursor = page.evaluate("getComputedStyle(document.getElementById('wf-cursor')).getPropertyValue('--cx')")
    assert cursor.strip() == "25"  # the generation starts 250 ms into a 1,000 ms trace
    page.screenshot(path=SCREENSHOTS / "e2e-trace-detail.png", full_page=False)

    # Step through in start order with j/k and the arrow keys; the URL and the panel follow.
    page.keyboard.press("j")
    _wait_selected(page, "format")
    panel.get_by_text("FORMAT-BODY").wait_for()
    page.keyboard.press("ArrowDown")
    _wait_selected(page, "notify")
    panel.get_by_text("NOTIFY-BODY").wait_for()
    page.keyboard.press("ArrowDown")  # the last span: nothing further
    _wait_selected(page, "notify")
    for key, expected in (("k", "format"), ("ArrowUp", "llm"), ("k", "search"), ("k", "plan"), ("k", None)):
        page.keyboard.press(key)
        _wait_selected(page, expected)
    assert page.locator("#wf a[aria-current]").inner_text().startswith("research agent")
    page.keyboard.press("j")
    page.keyboard.press("j")
    _wait_selected(page, "search")
    panel.get_by_text("SEARCH-BODY").wait_for()
    assert panel.get_by_text("rate limited").is_visible()
    assert page.evaluate("getComputedStyle(document.getElementById('wf-cursor')).getPropertyValue('--cx')") == "2"

    # Fold: ArrowLeft goes to the parent, then folds it; j skips what is folded; ArrowRight unfolds.
    page.keyboard.press("ArrowLeft")
    _wait_selected(page, "plan")
    page.keyboard.press("ArrowLeft")
    assert page.locator("#wf a", has_text="summarise").is_hidden()
    page.keyboard.press("j")
    _wait_selected(page, "notify")
    page.keyboard.press("Home")
    page.keyboard.press("j")
    _wait_selected(page, "plan")
    page.keyboard.press("ArrowRight")
    assert page.locator("#wf a", has_text="summarise").is_visible()
    page.locator("#wf .tg").first.click()  # the fold button folds by mouse too
    assert page.locator("#wf a", has_text="web-search").is_hidden()
    page.locator("#wf .tg").first.click()
    assert page.locator("#wf a", has_text="web-search").is_visible()

    # Keys typed into a field are text, not navigation.
    page.keyboard.press("End")
    _wait_selected(page, "notify")
    panel.get_by_text("NOTIFY-BODY").wait_for()
    panel.locator(".score-add summary").click()
    comment = panel.locator("[name=comment]").first
    comment.click()
    page.keyboard.type("jk")
    assert comment.input_value() == "jk" and _selected(page) == "notify"

    # Escape leaves the field for the tree, then selects the trace. The walk replaced the clicked span's
    # history entry as it went, so Back returns to where the walk ended, then to the page as opened.
    page.keyboard.press("Escape")
    assert _selected(page) == "notify"
    page.keyboard.press("Escape")
    _wait_selected(page, None)
    page.go_back()
    _wait_selected(page, "notify")
    assert page.locator("#wf a[aria-current]").inner_text().startswith("notify")
    page.go_back()
    _wait_selected(page, None)
    assert page.locator("#wf a[aria-current]").inner_text().startswith("research agent")

    # A shared link opens on its span, rendered by the server.
    page.goto(f"/p/{acme.project.pk}/trace/agent-1?observation=format")
    assert page.locator("#wf a[aria-current]").inner_text().startswith("format")
    assert panel.get_by_text("FORMAT-BODY").is_visible()
    assert_only_local_requests(page)


HOSTILE = "<script>window.__pwned = 1; alert(1)</script>"
IMG = '<img src=x onerror="window.__pwned = 2; alert(2)">'
SVG_USER = '"><svg onload="window.__pwned = 5; alert(5)">'
JS_SESSION = "javascript:alert(6)"
MARKDOWN = (
    f"# Answer pwned\n\n{IMG}\n\n<iframe src=javascript:alert(3)></iframe>\n\n"
    "[click me](javascript:window.__pwned=3) ![pixel](https://tracker.invalid/p.gif)\n\n"
    '<a href="javascript:alert(4)">raw link</a> <div onmouseover="alert(10)">hover</div>'
)
HUGE = HOSTILE + "x" * 1_000_000  # one line, a megabyte: ingestion keeps MAX_ATTRIBUTE_CHARS of it, marked

# What no page of the explorer may contain, whatever was ingested: a script that is not JSON data, an element that
# loads something (icons are inline SVG with class="icon"; the user page's chart is Plotly's own SVG), an event
# handler attribute, a javascript: link; and the flag the payloads set, were any of them run.
INERT = """() => {
  const main = document.getElementById('main');
  const ours = (e) => !e.closest('#user-usage-chart');
  const all = [...main.querySelectorAll('*')].filter(ours);
  return {
    pwned: window.__pwned === undefined ? null : window.__pwned,
    scripts: [...main.querySelectorAll('script')].filter(s => s.type !== 'application/json').length,
    loaders: [...main.querySelectorAll('img, iframe, svg:not(.icon), object, embed, video, audio')].filter(ours).length,
    handlers: all.filter(e => [...e.attributes].some(a => a.name.startsWith('on'))).length,
    jsLinks: all.filter(e => /^\\s*javascript:/i.test(e.getAttribute('href') || e.getAttribute('src') || '')).length,
  };
}"""


def _assert_inert(page: Any, where: str) -> None:
    page.wait_for_timeout(200)  # give any injected handler a chance to fire
    found = page.evaluate(INERT)
    assert found == {"pwned": None, "scripts": 0, "loaders": 0, "handlers": 0, "jsLinks": 0}, (where, found)


def _hostile_langfuse_batch(start: datetime) -> list[dict[str, Any]]:
    """Two turns of one session by one user (both ids hostile) through the Langfuse ingestion API: every text
    field a payload, a markdown span, a chat generation with a megabyte output, and a categorical score."""

    def at(ms: int) -> str:
        return (start + timedelta(milliseconds=ms)).isoformat().replace("+00:00", "Z")

    def event(kind: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"id": uuid.uuid4().hex, "type": kind, "timestamp": at(0), "body": body}

    person = {"userId": SVG_USER, "sessionId": JS_SESSION}
    chat = [
        {"role": "user", "content": [{"type": "text", "text": MARKDOWN}]},
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": "javascript:alert(8)"}},
                {"type": "image_url", "image_url": {"url": "https://tracker.invalid/cat.png"}},
            ],
        },
        {
            "role": HOSTILE,
            "content": None,
            "tool_calls": [{"id": IMG, "function": {"name": HOSTILE, "arguments": '{"a": "<svg/onload=alert(9)>"}'}}],
        },
    ]
    return [
        event(
            "trace-create",
            {
                "id": "evil",
                "timestamp": at(0),
                "name": HOSTILE,
                "tags": [IMG],
                "release": "<b>bold</b>",
                "input": {"html": HOSTILE, "link": "javascript:alert(7)"},
                "output": MARKDOWN,
                "metadata": {"k": IMG},
                **person,
            },
        ),
        event(
            "span-create",
            {"id": "o1", "traceId": "evil", "name": IMG, "startTime": at(0), "endTime": at(10), "input": MARKDOWN},
        ),
        event(
            "generation-create",
            {
                "id": "o2",
                "traceId": "evil",
                "name": "chat",
                "startTime": at(20),
                "endTime": at(40),
                "model": HOSTILE,
                "modelParameters": {HOSTILE: IMG},
                "input": chat,
                "output": HUGE,
                "statusMessage": HOSTILE,
                "level": "ERROR",
                "metadata": {IMG: HOSTILE},
                "promptName": HOSTILE,
                "promptVersion": 1,
            },
        ),
        event("score-create", {"id": "s1", "traceId": "evil", "name": IMG, "value": HOSTILE}),
        event(
            "trace-create",
            {
                "id": "evil-2",
                "timestamp": at(60_000),
                "name": IMG,
                "input": [{"role": "user", "content": f"pwned again {HOSTILE}"}],
                "output": {"role": "assistant", "content": MARKDOWN},
                **person,
            },
        ),
    ]


def _hostile_otlp(start: datetime) -> dict[str, Any]:
    """The same payloads as OpenInference spans over OTLP/JSON: a chain root and an LLM child with a megabyte
    output, in the same session."""

    def attr(key: str, value: Any) -> dict[str, Any]:
        if isinstance(value, list):
            return {"key": key, "value": {"arrayValue": {"values": [{"stringValue": v} for v in value]}}}
        return {"key": key, "value": {"stringValue": value}}

    nanos = int(start.timestamp() * 1e9) + 120_000_000_000
    trace_id = "e" * 32
    messages = [{"role": "user", "content": MARKDOWN}, {"role": "assistant", "content": HOSTILE}]
    spans = [
        {
            "traceId": trace_id,
            "spanId": "a" * 16,
            "name": IMG,
            "kind": 1,
            "startTimeUnixNano": str(nanos),
            "endTimeUnixNano": str(nanos + 50_000_000),
            "attributes": [
                attr("openinference.span.kind", "CHAIN"),
                attr("input.value", MARKDOWN),
                attr("output.value", HOSTILE),
                attr("session.id", JS_SESSION),
                attr("user.id", SVG_USER),
                attr("tag.tags", [IMG, HOSTILE]),
                attr("metadata", json.dumps({"k": IMG})),
            ],
        },
        {
            "traceId": trace_id,
            "spanId": "b" * 16,
            "parentSpanId": "a" * 16,
            "name": HOSTILE,
            "kind": 1,
            "startTimeUnixNano": str(nanos + 5_000_000),
            "endTimeUnixNano": str(nanos + 45_000_000),
            "status": {"code": 2, "message": IMG},
            "attributes": [
                attr("openinference.span.kind", "LLM"),
                attr("llm.model_name", HOSTILE),
                attr("input.value", json.dumps({"messages": messages})),
                attr("input.mime_type", "application/json"),
                attr("output.value", HUGE),
            ],
        },
    ]
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [attr("service.name", HOSTILE)]},
                "scopeSpans": [{"scope": {"name": "hostile"}, "spans": spans}],
            }
        ]
    }


def test_hostile_content_renders_as_text_and_nothing_executes(
    e2e_page: Any, live_server: Any, acme: Tenant, alice: Any
) -> None:
    """Hostile content sent through both ingestion APIs with the project's key, then every explorer page that
    shows it: the searched list, the trace with its spans selected, the session replay and the user page."""
    page = e2e_page
    pid = acme.project.pk
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)  # inside the list's default range
    auth = {"Authorization": acme.basic_auth}
    langfuse = httpx.post(
        f"{live_server.url}/api/public/ingestion",
        json={"batch": _hostile_langfuse_batch(start)},
        headers=auth,
        timeout=30,
    )
    assert langfuse.status_code == 207 and langfuse.json()["errors"] == [], langfuse.text[:2000]
    otlp = httpx.post(f"{live_server.url}/v1/traces", json=_hostile_otlp(start), headers=auth, timeout=30)
    assert otlp.status_code == 200 and not otlp.json().get("partialSuccess", {}).get("rejectedSpans"), otlp.text
    sign_in_as(page, alice, live_server.url)

    # The list, searched: all three traces, their names and previews as text.
    page.goto(f"/p/{pid}/traces/?q=pwned")
    rows = page.locator("tbody tr[data-trace-id]")
    assert sorted(rows.evaluate_all("rows => rows.map(r => r.dataset.traceId)")) == ["e" * 32, "evil", "evil-2"]
    assert page.locator('tr[data-trace-id="evil"] a.trace-link').inner_text() == HOSTILE
    assert page.locator('tr[data-trace-id="evil-2"] a.trace-link').inner_text() == IMG
    score = page.locator('tr[data-trace-id="evil"] td.cell-scores').inner_text()
    assert score.startswith("<img src=x onerror=") and "<script>" in score  # name and label, clipped, as text
    assert "pwned again <script>" in page.locator('tr[data-trace-id="evil-2"] .io-text').first.inner_text()
    _assert_inert(page, "list")

    # The Langfuse trace: header as text, each span selected, the megabyte output expanded.
    page.locator('tr[data-trace-id="evil"] a.trace-link').click()
    page.wait_for_url(re.compile(rf"/p/{pid}/trace/evil$"))
    assert page.locator(".trace-title h1").inner_text() == HOSTILE
    assert page.locator(".trace-chips .tag").inner_text() == IMG
    assert page.locator(".trace-facts a", has_text="svg onload").inner_text() == SVG_USER
    _assert_inert(page, "trace")
    panel = page.locator("#span-panel")
    page.locator("#wf a", has_text=IMG).click()
    _wait_selected(page, "o1")
    panel.locator("h1", has_text="Answer pwned").wait_for()
    panel.get_by_text("[click me](javascript:window.__pwned=3)").wait_for()
    assert panel.get_by_text(IMG).first.is_visible()  # raw HTML in markdown is shown as text
    _assert_inert(page, "markdown span")
    page.keyboard.press("j")
    _wait_selected(page, "o2")
    output = panel.locator("section[aria-label=Output] .clip")
    output.wait_for()
    output.locator("summary").click()  # expand the megabyte line
    full = panel.locator("section[aria-label=Output] .clip[open] > .txt")
    stored = Observation.objects.get(project_id=pid, id="o2").output  # what ingestion kept of the megabyte
    assert len(stored) <= limits.MAX_ATTRIBUTE_CHARS < len(HUGE)
    assert full.is_visible() and full.evaluate("e => e.textContent") == stored  # all of it, as text
    text_ends = full.evaluate("(e, start) => [e.textContent.startsWith(start), e.textContent.slice(-40)]", HOSTILE)
    assert text_ends[0] and text_ends[1].endswith(" chars]")  # the cut is marked, never silent
    assert panel.locator("a.img-ref").get_attribute("href") == "https://tracker.invalid/cat.png"
    assert panel.get_by_text(HOSTILE).first.is_visible()
    page.screenshot(path=SCREENSHOTS / "e2e-trace-hostile.png", full_page=False)
    _assert_inert(page, "generation span")

    # The OTLP trace and its LLM span.
    page.goto(f"/p/{pid}/trace/{'e' * 32}")
    assert page.locator(".trace-title h1").inner_text() == IMG
    page.locator("#wf a", has_text=HOSTILE).click()
    _wait_selected(page, "b" * 16)
    panel.locator("section[aria-label=Output] .clip").wait_for()
    assert panel.locator(".status-message").inner_text().endswith(IMG)
    _assert_inert(page, "otlp span")

    # The session replay (the header's session link): every turn of both APIs, as text.
    page.locator(".trace-facts a", has_text=JS_SESSION).click()
    page.wait_for_url(re.compile(rf"/p/{pid}/session/"))
    assert page.locator("#session-id").inner_text() == JS_SESSION
    turns = page.locator("[data-testid=transcript] > li")
    assert turns.count() == 3
    assert [turns.nth(i).locator("a.turn-link").inner_text() for i in range(3)] == [HOSTILE, IMG, IMG]
    assert "pwned again " + HOSTILE in turns.nth(1).inner_text()
    _assert_inert(page, "session")

    # The user page (a turn's user link), its chart drawn.
    turns.nth(0).locator("a", has_text="svg onload").click()
    page.wait_for_url(re.compile(rf"/p/{pid}/user/"))
    assert page.locator("#user-id").inner_text() == SVG_USER
    assert page.get_by_test_id("user-traces").inner_text() == "3"
    page.locator("#user-usage-chart[data-rendered=true]").wait_for()
    assert page.get_by_test_id("user-trace-table").locator("tbody tr").count() == 3
    _assert_inert(page, "user")

    assert dialogs == []
    assert "tracker.invalid" not in page.requested_hosts  # image references are never fetched
    assert_only_local_requests(page)


def test_two_thousand_spans_stay_responsive(e2e_page: Any, live_server: Any, acme: Tenant, alice: Any) -> None:
    page = e2e_page
    spans = [
        ObservationIn(
            id=f"s{n}",
            trace_id="big",
            parent_id=None if n == 0 else f"s{(n - 1) // 3}",
            type="GENERATION" if n % 4 == 0 else "SPAN",
            name=f"step {n}",
            start_time=_ms(n * 2),
            end_time=_ms(n * 2 + 30),
            input="x" * 1_000_000 if n in (5, 6) else {"n": n},
        )
        for n in range(2_000)
    ]
    trace_batch_write(
        project_id=acme.project.pk, traces=[TraceIn(id="big", timestamp=T0, name="big")], observations=spans
    )
    sign_in_as(page, alice, live_server.url)
    started = time.perf_counter()
    page.goto(f"/p/{acme.project.pk}/trace/big")
    loaded = time.perf_counter() - started
    assert page.locator("#wf > li").count() == 2_001
    for _ in range(30):
        page.keyboard.press("j")
    _wait_selected(page, "s29")
    page.locator("#span-panel .j-num", has_text="29").wait_for()  # the body of where the walk stopped
    # The cost of one step inside the page (handler, restyle and layout it forces), without Playwright's
    # round trips: a step must not restyle every row (a custom property on the list's container did, 0.5 s).
    per_step = page.evaluate(
        """() => {
          const started = performance.now();
          for (let i = 0; i < 20; i++) {
            document.activeElement.dispatchEvent(new KeyboardEvent('keydown', {key: 'j', bubbles: true}));
            document.body.getBoundingClientRect();
          }
          return (performance.now() - started) / 20;
        }"""
    )
    _wait_selected(page, "s49")
    page.locator("#wf a", has_text="step 5").first.click()
    page.locator("#span-panel .clip").wait_for()
    print(f"\n2,000 spans in the browser: page loaded in {loaded * 1000:.0f} ms, one step costs {per_step:.1f} ms")
    assert per_step < 60
    assert_only_local_requests(page)


def test_open_in_playground_fetches_a_large_input_only_when_asked(
    e2e_page: Any, live_server: Any, acme: Tenant, alice: Any
) -> None:
    """A generation whose input is too large to ship twice with its span: the panel has a button that fetches the
    form (the span chosen in the tree, so the panel came from trace.js), and the click still lands in the
    playground with every message."""
    page = e2e_page
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    stamp = start.isoformat().replace("+00:00", "Z")
    long_question = "Summarise this: " + "lorem ipsum " * 8_000  # ≈ 96 KB, over PLAYGROUND_INLINE_MAX_CHARS
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": long_question}]
    batch = [
        {"id": "e1", "type": "trace-create", "timestamp": stamp, "body": {"id": "long-trace", "timestamp": stamp}},
        {
            "id": "e2",
            "type": "generation-create",
            "timestamp": stamp,
            "body": {
                "id": "long-gen",
                "traceId": "long-trace",
                "name": "long-call",
                "startTime": stamp,
                "model": "local-small",
                "modelParameters": {"temperature": 0.2},
                "input": messages,
            },
        },
    ]
    response = httpx.post(
        f"{live_server.url}/api/public/ingestion",
        json={"batch": batch},
        headers={"Authorization": acme.basic_auth},
        timeout=30,
    )
    assert response.status_code == 207 and response.json()["errors"] == [], response.text
    sign_in_as(page, alice, live_server.url)
    page.goto(f"/p/{acme.project.pk}/trace/long-trace")
    page.locator("#wf a", has_text="long-call").click()
    _wait_selected(page, "long-gen")
    panel = page.locator("#span-panel")
    panel.get_by_test_id("playground-lazy").wait_for()
    assert panel.locator("input[name=messages]").count() == 0  # the input is in the panel once, as the chat
    panel.get_by_role("button", name="Open in playground").click()
    page.wait_for_url(f"**/p/{acme.project.pk}/prompts/playground/")

    rows = page.locator("[data-pg-message]")
    assert rows.count() == 2
    assert rows.nth(1).locator("textarea").input_value() == long_question
    assert page.input_value("#pg-model") == "local-small" and page.input_value("#pg-temperature") == "0.2"
    assert_only_local_requests(page)
