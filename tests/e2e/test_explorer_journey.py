"""The trace explorer end to end, in one real browser, from ingestion to the pages.

Traces arrive through the Langfuse ingestion endpoint over HTTP (the tenant's own keys), then a person signs in,
filters and searches the list, opens a trace, selects and steps through its spans, annotates it with a thumbs up
and a score from a config they create in Settings, sees the score in the list, replays the session, opens the
user's page and switches to the dark theme. Screenshots go to /tmp/e2e-journey-*.png.
"""

from __future__ import annotations

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

from tests.conftest import PASSWORD, Tenant
from tests.e2e.conftest import assert_only_local_requests
from tests.e2e.test_sessions_users import _contrast, _luminance
from traces.models import Score

pytestmark = pytest.mark.e2e

SCREENSHOTS = Path(tempfile.gettempdir())
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)  # inside the list's default 7-day range


def _at(ms: int) -> str:
    return (T0 + timedelta(milliseconds=ms)).isoformat().replace("+00:00", "Z")


def _event(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """One ingestion event; like the SDKs, every event names its environment."""
    body = {"environment": "production", **body}
    return {"id": uuid.uuid4().hex, "type": kind, "timestamp": _at(0), "body": body}


def _turn(trace_id: str, ms: int, question: str, answer: str, **trace: Any) -> list[dict[str, Any]]:
    """A chat turn: the trace and one generation that answers the question."""
    return [
        _event(
            "trace-create",
            {
                "id": trace_id,
                "timestamp": _at(ms),
                "name": "support chat",
                "input": [{"role": "user", "content": question}],
                "output": {"role": "assistant", "content": answer},
                **trace,
            },
        ),
        _event(
            "generation-create",
            {
                "id": f"{trace_id}-gen",
                "traceId": trace_id,
                "name": "answer",
                "startTime": _at(ms),
                "endTime": _at(ms + 600),
                "model": "gpt-4o",
                "input": [{"role": "user", "content": question}],
                "output": {"role": "assistant", "content": answer},
                "usage": {"input": 20, "output": 10, "unit": "TOKENS"},
            },
        ),
    ]


def _batch() -> list[dict[str, Any]]:
    """maria's session conv-42 (two turns; the second is an agent run with four spans) and li's unrelated trace.
    The agent's spans in start order: plan, lookup (an error), draft (a generation), notify."""
    maria = {"userId": "maria", "sessionId": "conv-42", "tags": ["beta"]}
    agent = "conv-42-turn-2"
    return [
        *_turn("conv-42-turn-1", 0, "Bonjour, où est ma commande ?", "Elle arrive demain.", **maria),
        _event(
            "trace-create",
            {
                "id": agent,
                "timestamp": _at(60_000),
                "name": "recipe agent",
                "input": [{"role": "user", "content": "Une recette de crème brûlée, s'il vous plaît"}],
                "output": {"role": "assistant", "content": "Voici la crème brûlée : RECIPE-ANSWER"},
                **maria,
            },
        ),
        _event(
            "agent-create",
            {"id": "plan", "traceId": agent, "name": "plan", "startTime": _at(60_000), "endTime": _at(61_000)},
        ),
        _event(
            "tool-create",
            {
                "id": "lookup",
                "traceId": agent,
                "parentObservationId": "plan",
                "name": "cookbook-search",
                "startTime": _at(60_050),
                "endTime": _at(60_200),
                "input": {"query": "LOOKUP-BODY crème brûlée"},
                "level": "ERROR",
                "statusMessage": "cookbook offline",
            },
        ),
        _event(
            "generation-create",
            {
                "id": "draft",
                "traceId": agent,
                "parentObservationId": "plan",
                "name": "draft",
                "startTime": _at(60_250),
                "completionStartTime": _at(60_400),
                "endTime": _at(60_900),
                "model": "gpt-4o",
                "input": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "DRAFT-BODY"}],
                "output": {"role": "assistant", "content": "## Crème brûlée\n\n- cream\n- sugar"},
                "usage": {"input": 120, "output": 30, "unit": "TOKENS"},
            },
        ),
        _event(
            "event-create",
            {"id": "notify", "traceId": agent, "name": "notify", "startTime": _at(60_950), "output": "NOTIFY-BODY"},
        ),
        *_turn("li-1", 120_000, "東京タワーの高さは?", "333 m.", userId="li", tags=["prod"]),
    ]


def _ingest(base_url: str, tenant: Tenant) -> None:
    response = httpx.post(
        f"{base_url}/api/public/ingestion",
        json={"batch": _batch()},
        headers={"Authorization": tenant.basic_auth},
        timeout=10,
    )
    assert response.status_code == 207 and response.json()["errors"] == [], response.text


def _row_ids(page: Any) -> list[str]:
    return page.locator("tbody tr[data-trace-id]").evaluate_all("rows => rows.map(r => r.dataset.traceId)")


def _selected(page: Any) -> str | None:
    values = parse_qs(urlsplit(page.url).query).get("observation")
    return values[0] if values else None


def _wait_selected(page: Any, observation: str | None) -> None:
    deadline = time.monotonic() + 5
    while _selected(page) != observation and time.monotonic() < deadline:
        page.wait_for_timeout(25)
    assert _selected(page) == observation, page.url
    # The tree's selected row is the URL's span (or the trace's own row).
    href = page.locator("#wf a[aria-current]").get_attribute("href")
    assert (href == f"?observation={observation}") if observation else ("?observation=" not in href), href


def _cursor(page: Any) -> str:
    """Where the timeline cursor stands, in percent of the trace's duration."""
    return page.evaluate("getComputedStyle(document.getElementById('wf-cursor')).getPropertyValue('--cx')").strip()


def _assert_readable(page: Any, name: str, selectors: list[str]) -> None:
    """The page is dark and each element's text has WCAG AA contrast against the background it sits on."""
    body_bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert _luminance(body_bg) < 0.05, f"{name}: the page is not dark ({body_bg})"
    for selector in selectors:
        colours = page.locator(selector).first.evaluate(
            """e => {
              const colour = getComputedStyle(e).color;
              // The nearest ancestor with an opaque background is what the text is read against.
              for (let n = e; n; n = n.parentElement) {
                const bg = getComputedStyle(n).backgroundColor;
                if (bg !== 'transparent' && !bg.startsWith('rgba(0, 0, 0, 0)')) return [colour, bg];
              }
              return [colour, getComputedStyle(document.body).backgroundColor];
            }"""
        )
        assert _contrast(*colours) >= 4.5, f"{name} {selector}: {colours}"
    page.screenshot(path=SCREENSHOTS / f"e2e-journey-dark-{name}.png", full_page=False)


def test_explorer_journey_from_ingestion_to_dark_theme(e2e_page: Any, live_server: Any, acme: Tenant) -> None:
    page = e2e_page
    pid = acme.project.pk
    _ingest(live_server.url, acme)

    # Sign in with the form; the product lands on the trace list, newest first.
    page.goto("/")
    page.fill("input[name=username]", "alice@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**/p/{pid}/traces/")
    assert _row_ids(page) == ["li-1", "conv-42-turn-2", "conv-42-turn-1"]

    # Filter by user (from the row's user link) and by tag (in the Filters panel); both land in the URL.
    page.locator('tr[data-trace-id="conv-42-turn-1"] a[title="Show only maria"]').click()
    page.wait_for_url(re.compile(r"user=maria"))
    assert _row_ids(page) == ["conv-42-turn-2", "conv-42-turn-1"]
    page.locator(".trace-more summary").click()  # "Filters 1": the user filter is counted
    page.get_by_label("Add a tag").fill("beta")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"tag=beta"))
    assert "user=maria" in page.url and _row_ids(page) == ["conv-42-turn-2", "conv-42-turn-1"]

    # Full-text search for an accented word, within the filters: one trace.
    page.keyboard.press("/")
    page.keyboard.type("brûlée")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"q=br%C3%BBl%C3%A9e"))
    assert _row_ids(page) == ["conv-42-turn-2"]
    assert "user=maria" in page.url and "tag=beta" in page.url
    list_url = page.url
    # Cleared of every filter, a CJK substring finds li's trace; Back twice returns to the filtered search.
    page.get_by_role("link", name="Clear", exact=True).click()
    page.wait_for_url(f"**/p/{pid}/traces/")
    page.keyboard.press("/")
    page.keyboard.type("タワー")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"q=%E3%82%BF"))
    assert _row_ids(page) == ["li-1"]
    page.go_back()
    page.go_back()
    page.wait_for_url(list_url)

    # Open the trace; select spans by click, then step through with j/k and the arrows.
    page.locator('tr[data-trace-id="conv-42-turn-2"] a.trace-link').click()
    page.wait_for_url(re.compile(rf"/p/{pid}/trace/conv-42-turn-2$"))
    trace_url = page.url
    page.go_back()  # the back button returns to the list as it was filtered, and forward to the trace
    page.wait_for_url(list_url)
    assert _row_ids(page) == ["conv-42-turn-2"] and page.locator("#trace-q").input_value() == "brûlée"
    page.go_forward()
    page.wait_for_url(trace_url)
    assert page.get_by_role("heading", name="recipe agent", level=1).is_visible()
    assert page.locator("#wf > li").count() == 5  # the trace row and four spans
    panel = page.locator("#span-panel")
    page.locator("#wf a", has_text="draft").click()
    _wait_selected(page, "draft")
    panel.get_by_text("DRAFT-BODY").wait_for()
    assert panel.locator("h2", has_text="Crème brûlée").count() == 1  # the markdown answer, rendered
    assert panel.get_by_test_id("ttft").inner_text() == "150ms"
    assert _cursor(page) == "25"  # the timeline cursor sits at the draft's start: 250 ms into a 1 s trace
    page.locator("#wf a", has_text="cookbook-search").click()
    _wait_selected(page, "lookup")
    panel.get_by_text("cookbook offline").wait_for()
    page.screenshot(path=SCREENSHOTS / "e2e-journey-trace.png", full_page=False)
    for key, expected in (("j", "draft"), ("ArrowDown", "notify"), ("k", "draft"), ("ArrowUp", "lookup")):
        page.keyboard.press(key)
        _wait_selected(page, expected)
    panel.get_by_text("LOOKUP-BODY").wait_for()
    assert _cursor(page) == "5"
    page.keyboard.press("j")
    page.keyboard.press("j")
    _wait_selected(page, "notify")
    panel.get_by_text("NOTIFY-BODY").wait_for()
    # Escape from the tree selects the trace itself: its own input and its score panel.
    page.keyboard.press("Escape")
    _wait_selected(page, None)
    panel.get_by_text("RECIPE-ANSWER").wait_for()

    # Annotate the trace: a thumbs up, then a score from a config made in Settings → Scores (the panel links there).
    scores = page.get_by_test_id("score-panel")
    scores.get_by_role("button", name="Thumbs up").click()
    scores.locator(".score-item[data-score-name=thumbs]").wait_for()
    assert scores.get_by_role("button", name="Thumbs up").get_attribute("aria-pressed") == "true"
    scores.locator("summary", has_text="Add a score").click()
    scores.get_by_role("link", name="Create one in Settings → Scores").click()
    page.wait_for_url(f"**/p/{pid}/settings/scores/")
    page.fill("input[name=name]", "helpfulness")
    page.select_option("select[name=data_type]", "NUMERIC")
    page.fill("input[name=min_value]", "0")
    page.fill("input[name=max_value]", "5")
    page.get_by_role("button", name="Add score config").click()
    page.locator("#score-configs-table tbody tr", has_text="helpfulness").wait_for()
    page.goto(trace_url)
    scores = page.get_by_test_id("score-panel")
    scores.locator("summary", has_text="Add a score").click()
    form = scores.locator("form.score-form[data-config=helpfulness]")
    form.locator("[name=value]").fill("4")
    form.locator("textarea[name=comment]").fill("Très utile — 很有帮助")
    form.get_by_role("button", name="Save helpfulness").click()
    item = scores.locator(".score-item[data-score-name=helpfulness]")
    item.wait_for()
    assert "4" in item.locator(".score-value").inner_text() and "Très utile — 很有帮助" in item.inner_text()
    saved = {s.name: (s.value, s.source, s.comment) for s in Score.objects.filter(project_id=pid)}
    assert saved == {"thumbs": (1.0, "ANNOTATION", None), "helpfulness": (4.0, "ANNOTATION", "Très utile — 很有帮助")}

    # Back to the list (the breadcrumb): the scores column shows both.
    page.locator(".trace-title .breadcrumb a", has_text="Traces").click()
    page.wait_for_url(f"**/p/{pid}/traces/")
    chips = page.locator('tr[data-trace-id="conv-42-turn-2"] td.cell-scores .score-chip').all_inner_texts()
    assert sorted(chip.strip() for chip in chips) == ["helpfulness 4", "thumbs 👍 Up"]  # a thumb, not 1
    assert page.locator('tr[data-trace-id="conv-42-turn-1"] td.cell-scores').inner_text().strip() == "—"

    # From the trace header to the session replay: both turns in order, each linking into its trace.
    page.locator('tr[data-trace-id="conv-42-turn-2"] a.trace-link').click()
    page.locator(".trace-facts a", has_text="conv-42").click()
    page.wait_for_url(f"**/p/{pid}/session/conv-42")
    turns = page.locator("[data-testid=transcript] > li")
    assert turns.count() == 2
    first, second = turns.nth(0).inner_text(), turns.nth(1).inner_text()
    assert "Bonjour, où est ma commande ?" in first and "Elle arrive demain." in first
    assert "crème brûlée, s'il vous plaît" in second and "RECIPE-ANSWER" in second and "helpfulness: 4" in second
    assert turns.nth(1).locator("a.turn-link").get_attribute("href").endswith(f"/p/{pid}/trace/conv-42-turn-2")
    page.screenshot(path=SCREENSHOTS / "e2e-journey-session.png", full_page=True)

    # The user's page: their totals and the chart, drawn by Plotly.
    turns.nth(0).locator("a", has_text="maria").click()
    page.wait_for_url(f"**/p/{pid}/user/maria")
    assert page.get_by_test_id("user-traces").inner_text() == "2"
    chart = page.locator("#user-usage-chart[data-rendered=true]")
    chart.wait_for()
    assert chart.locator(".main-svg").count() >= 1

    # The dark theme (the header's toggle, remembered across pages): the list and the trace stay readable.
    page.click("[data-theme-toggle]")
    assert page.get_attribute("html", "data-theme") == "dark"
    page.goto(list_url)
    assert _row_ids(page) == ["conv-42-turn-2"]
    _assert_readable(page, "list", [".trace-table td.cell-name a", ".trace-table .io-text", ".score-chip"])
    page.goto(f"/p/{pid}/trace/conv-42-turn-2?observation=draft")
    panel.get_by_text("DRAFT-BODY").wait_for()
    _assert_readable(page, "trace", [".trace-title h1", "#wf a[aria-current] .nm", "#span-panel .msg"])
    assert_only_local_requests(page)
