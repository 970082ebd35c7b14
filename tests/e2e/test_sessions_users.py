"""Sessions and users in a real browser: the replay journey from the list into a trace, the user page's
chart, and both pages under the system's dark theme.

Screenshots go to /tmp/e2e-<journey>.png.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Tenant
from tests.e2e.conftest import assert_only_local_requests, sign_in_as
from tests.test_sessions_users import _seed_conversation

pytestmark = pytest.mark.e2e

SCREENSHOTS = Path(tempfile.gettempdir())


def _luminance(css_colour: str) -> float:
    """Relative luminance (WCAG) of an `rgb(…)`/`rgba(…)` colour."""
    r, g, b = (int(v) / 255 for v in re.findall(r"[\d.]+", css_colour)[:3])

    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def _contrast(a: str, b: str) -> float:
    light, dark = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_session_replay_journey_into_a_trace(e2e_page: Any, live_server: Any, acme: Tenant, alice: Any) -> None:
    page = e2e_page
    pid = acme.project.pk
    _seed_conversation(pid)
    sign_in_as(page, alice, live_server.url)

    # The sidebar's Sessions entry opens the list, newest activity first.
    page.goto(f"/p/{pid}/traces/")
    page.get_by_role("link", name=re.compile("^Sessions")).click()
    page.wait_for_url(f"**/p/{pid}/sessions/")
    table = page.get_by_test_id("session-table")
    assert table.locator("tbody tr").count() == 2
    assert "chat-2" in table.locator("tbody tr").first.inner_text()

    # Searching by id prefix updates the results in place and puts the search in the URL.
    page.fill("input[name=q]", "chat-1")
    page.wait_for_url(re.compile(r"q=chat-1"))
    page.wait_for_function("document.querySelectorAll('[data-testid=session-table] tbody tr').length === 1")
    row = page.get_by_test_id("session-table").locator("tbody tr").first
    assert "chat-1" in row.inner_text() and "$1.5000" in row.inner_text()

    # Open the session: its three turns in time order, feedback as thumbs, the session's own scores.
    row.get_by_role("link").click()
    page.wait_for_url(f"**/p/{pid}/session/chat-1")
    turns = page.locator("[data-testid=transcript] > li")
    assert turns.count() == 3
    texts = [turns.nth(i).inner_text() for i in range(3)]
    assert "Hello there" in texts[0] and "Hi! How can I help?" in texts[0]
    assert "What is 2+2?" in texts[1] and "It is 4." in texts[1] and "Hello there" not in texts[1]
    assert "Bye for now" in texts[2] and "Goodbye, take care" in texts[2]
    assert turns.nth(0).locator(".thumb-up").inner_text() == "thumbs up"
    assert turns.nth(1).locator(".thumb-down").inner_text() == "thumbs down"
    panel = page.get_by_test_id("score-panel")
    panel.wait_for()
    assert "resolved" in panel.inner_text()
    page.screenshot(path=SCREENSHOTS / "e2e-session-replay.png", full_page=True)

    # Each turn links into its trace; the back button returns to the conversation.
    turns.nth(1).locator("a.turn-link").click()
    page.wait_for_url(f"**/p/{pid}/trace/t2")
    assert page.get_by_role("heading", name="turn t2", level=1).is_visible()
    page.go_back()
    page.wait_for_url(f"**/p/{pid}/session/chat-1")
    assert_only_local_requests(page)


def test_user_page_draws_the_chart(e2e_page: Any, live_server: Any, acme: Tenant, alice: Any) -> None:
    page = e2e_page
    pid = acme.project.pk
    _seed_conversation(pid)
    sign_in_as(page, alice, live_server.url)

    page.goto(f"/p/{pid}/users/")
    row = page.get_by_test_id("user-table").locator("tbody tr", has_text="u1")
    assert "67%" in row.inner_text()
    row.get_by_role("link", name="u1").click()
    page.wait_for_url(f"**/p/{pid}/user/u1")
    assert page.get_by_test_id("user-traces").inner_text() == "3"

    chart = page.locator("#user-usage-chart[data-rendered=true]")
    chart.wait_for()
    assert chart.locator(".main-svg").count() >= 1  # Plotly drew an SVG
    assert chart.locator(".legendtext", has_text="Cost").count() == 1
    assert page.get_by_test_id("user-sessions").locator("a", has_text="chat-2").is_visible()
    page.screenshot(path=SCREENSHOTS / "e2e-user-page.png", full_page=True)

    page.get_by_test_id("user-sessions").locator("a", has_text="chat-1").click()
    page.wait_for_url(f"**/p/{pid}/session/chat-1")
    assert_only_local_requests(page)


def test_dark_theme_pages_stay_readable(
    e2e_browser: Any, live_server: Any, e2e_settings: Any, transactional_db: None, acme: Tenant, alice: Any
) -> None:
    pid = acme.project.pk
    _seed_conversation(pid)
    context = e2e_browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 860}, color_scheme="dark"
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        sign_in_as(page, alice, live_server.url)
        for path, name in [
            (f"/p/{pid}/sessions/", "sessions"),
            (f"/p/{pid}/session/chat-1", "session"),
            (f"/p/{pid}/users/", "users"),
            (f"/p/{pid}/user/u1", "user"),
        ]:
            page.goto(path)
            body_bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
            assert _luminance(body_bg) < 0.05, f"{name}: the page is not dark ({body_bg})"
            # Text on cards and turns is readable against its own background (WCAG AA for normal text).
            for selector in [".card", ".turn", ".msg"]:
                element = page.locator(selector).first
                if element.count():
                    colours = element.evaluate("e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]")
                    assert _contrast(*colours) >= 4.5, f"{name} {selector}: {colours}"
            page.screenshot(path=SCREENSHOTS / f"e2e-dark-{name}.png", full_page=True)

        # The chart takes the theme's colours: its tick labels are light on the dark page.
        chart = page.locator("#user-usage-chart[data-rendered=true]")
        chart.wait_for()
        tick_fill = chart.locator(".xtick text").first.evaluate("e => getComputedStyle(e).fill")
        assert _luminance(tick_fill) > 0.4, tick_fill
        assert not errors, errors
    finally:
        context.close()
