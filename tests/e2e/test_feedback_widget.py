"""Browser journeys: a web app on another origin (README.md's HTML example, served by a second tiny HTTP server)
includes sightline-feedback.js from Sightline; a user clicks thumbs-down and adds a comment; the feedback is
stored once (a FEEDBACK score) and shows on the trace page. Also: the API reference page loads with no CDN."""

from __future__ import annotations

import html
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.conftest import Tenant
from tests.e2e.conftest import assert_only_local_requests, sign_in_as
from tests.test_readme_snippets import readme_block
from traces.models import Score
from traces.services import TraceIn, trace_batch_write

pytestmark = pytest.mark.e2e
TRACE_ID = "chat-turn/42"


def _app_page(sightline: str, public_key: str) -> bytes:
    """The customer's page: README.md's HTML example, with this server, key and trace filled in."""
    snippet = (
        readme_block("feedback-html")
        .replace("https://sightline.example.com", sightline)
        .replace("pk-sl-your-public-key", html.escape(public_key))
        .replace("the-trace-id-of-this-answer", html.escape(TRACE_ID))
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Support chat</title></head>"
        f"<body><main><p>The capital of France is Paris.</p>{snippet}</main></body></html>"
    ).encode()


@pytest.fixture
def other_origin(live_server: Any, acme: Tenant) -> Iterator[str]:
    """A second tiny HTTP server (another port: another origin) serving the customer's page."""
    page = _app_page(live_server.url, acme.public_key)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_thumbs_down_from_another_origin_lands_on_the_trace(
    e2e_page: Any, live_server: Any, acme: Tenant, alice: Any, other_origin: str
) -> None:
    from playwright.sync_api import expect

    assert other_origin.rsplit(":", 1)[1] != live_server.url.rsplit(":", 1)[1]
    acme.project.allowed_origins = [other_origin]
    acme.project.save(update_fields=["allowed_origins"])
    trace_batch_write(
        project_id=acme.project.pk,
        traces=[TraceIn(id=TRACE_ID, timestamp=acme.project.created_at, name="support-turn", input="capital?")],
    )

    page = e2e_page
    page.goto(other_origin)
    widget = page.get_by_role("group", name="Was this helpful?")
    down = widget.get_by_role("button", name="Not helpful")
    down.click()
    expect(widget.get_by_role("status")).to_have_text("Thanks, your feedback was sent.")
    expect(down).to_have_attribute("aria-pressed", "true")
    comment = widget.get_by_label("Comment (optional)")
    comment.fill("It should have cited a source.")
    widget.get_by_role("button", name="Send comment").click()
    expect(widget).to_have_attribute("data-state", "sent")

    # Stored once (the comment updated the same score), as FEEDBACK, thumbs down.
    score = Score.objects.get(project_id=acme.project.pk)
    assert (score.trace_id, score.source, score.name, score.value) == (TRACE_ID, "FEEDBACK", "user-feedback", 0.0)
    assert score.comment == "It should have cited a source."

    # …and the project's people see it on the trace page.
    sign_in_as(page, alice, live_server.url)
    page.goto(f"{live_server.url}/p/{acme.project.pk}/trace/{TRACE_ID}")
    feedback = page.locator(".score-item[data-score-name='user-feedback']").first
    expect(feedback).to_be_visible()
    expect(feedback).to_contain_text("FEEDBACK")
    expect(feedback).to_contain_text("It should have cited a source.")
    # …as a thumbs-down, not as a bare boolean
    expect(feedback.locator(".score-value")).to_have_text("👎 Down")
    expect(feedback.locator(".score-value")).to_have_class("score-value is-false")
    expect(page.locator(".trace-chips .score-chip")).to_have_text("user-feedback: 👎 Down")
    assert_only_local_requests(page)


def test_widget_reports_failure_when_the_origin_is_not_allowed(
    e2e_page: Any, live_server: Any, acme: Tenant, other_origin: str
) -> None:
    from playwright.sync_api import expect

    page = e2e_page
    page.goto(other_origin)  # the project allows no origin at all
    widget = page.get_by_role("group", name="Was this helpful?")
    widget.get_by_role("button", name="Helpful", exact=True).click()
    expect(widget.get_by_role("status")).to_have_text("Sorry, your feedback could not be sent. Please try again.")
    expect(widget).to_have_attribute("data-state", "failed")
    assert not Score.objects.exists()


def test_widget_says_too_many_requests_on_a_429_and_the_page_can_read_retry_after(
    e2e_page: Any, live_server: Any, acme: Tenant, other_origin: str, settings: Any
) -> None:
    """The per-address limit answers before the key's project is known; the answer still carries CORS headers,
    so the widget shows its "too many requests" message rather than a generic failure."""
    from playwright.sync_api import expect

    acme.project.allowed_origins = [other_origin]
    acme.project.save(update_fields=["allowed_origins"])
    settings.FEEDBACK_RATE_LIMIT_PER_IP = 0  # every request from this browser is over the limit

    page = e2e_page
    page.goto(other_origin)
    widget = page.get_by_role("group", name="Was this helpful?")
    widget.get_by_role("button", name="Helpful", exact=True).click()
    expect(widget.get_by_role("status")).to_have_text("Too many requests; please try again in a moment.")
    expect(widget).to_have_attribute("data-state", "failed")
    status, retry_after = page.evaluate(
        """async ({host, key}) => {
            const response = await fetch(host + "/api/public/feedback", {
                method: "POST", mode: "cors", credentials: "omit",
                headers: {"Content-Type": "application/json", "Authorization": "Basic " + btoa(key + ":")},
                body: JSON.stringify({traceId: "t", value: 1})
            });
            return [response.status, response.headers.get("Retry-After")];
        }""",
        {"host": live_server.url, "key": acme.public_key},
    )
    assert status == 429 and int(retry_after) >= 1
    assert not Score.objects.exists()


def test_api_docs_page_needs_nothing_from_outside(e2e_page: Any, live_server: Any) -> None:
    """/api/docs/ (the API reference) renders from Sightline alone: no CDN script, as an offline install needs."""
    from playwright.sync_api import expect

    page = e2e_page
    page.goto(f"{live_server.url}/api/docs/")
    expect(page.get_by_role("heading", name="GET /api/public/traces", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="POST /api/public/feedback", exact=True)).to_be_visible()
    assert_only_local_requests(page)
