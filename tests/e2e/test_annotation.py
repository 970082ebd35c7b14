"""Annotation in a real browser: create a score config in Settings → Scores, then on the trace detail page
give a thumbs up, add a categorical score with a comment, and annotate a span.

Screenshots: /tmp/e2e-score-configs.png, /tmp/e2e-score-panel-form.png, /tmp/e2e-score-panel.png.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Tenant
from tests.e2e.conftest import assert_only_local_requests, sign_in_as
from traces.models import Score, ScoreConfig
from traces.services import ObservationIn, TraceIn, trace_batch_write

pytestmark = pytest.mark.e2e

SCREENSHOTS = Path(tempfile.gettempdir())
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def test_configure_scores_then_annotate_a_trace_and_a_span(
    e2e_page: Any, live_server: Any, acme: Tenant, alice: Any
) -> None:
    page = e2e_page
    pid = acme.project.pk
    trace_batch_write(
        project_id=pid,
        traces=[TraceIn(id="t-annotate", timestamp=T0, name="support-chat", input="Where is my refund?")],
        observations=[
            ObservationIn(
                id="span-1", trace_id="t-annotate", name="retrieve", start_time=T0, end_time=T0 + timedelta(seconds=1)
            )
        ],
    )
    sign_in_as(page, alice, live_server.url)

    # Settings → Scores: create a categorical config from label=value lines.
    page.goto(f"/p/{pid}/settings/")
    page.get_by_role("link", name="Scores", exact=True).click()
    page.wait_for_url(f"**/p/{pid}/settings/scores/")
    page.fill("input[name=name]", "correctness")
    page.select_option("select[name=data_type]", "CATEGORICAL")
    page.fill("textarea[name=categories]", "correct=1\npartly=0.5\nwrong=0")
    page.fill("textarea[name=description]", "Is the answer factually right?")
    page.get_by_role("button", name="Add score config").click()
    row = page.locator("#score-configs-table tbody tr", has_text="correctness")
    row.wait_for()
    assert "partly = 0.5" in row.inner_text()
    page.screenshot(path=SCREENSHOTS / "e2e-score-configs.png", full_page=True)
    config = ScoreConfig.objects.get(project=acme.project, name="correctness")

    # Trace detail: the panel loads by itself (htmx); a thumbs up shows at once.
    page.goto(f"/p/{pid}/trace/t-annotate")
    panel = page.locator("[data-testid=score-panel]")
    panel.wait_for()
    assert "No scores on this trace yet" in panel.inner_text()
    panel.get_by_role("button", name="Thumbs up").click()
    item = panel.locator(".score-item[data-score-name=thumbs]")
    item.wait_for()
    assert "Up" in item.inner_text() and "ANNOTATION" in item.inner_text() and "Alice" in item.inner_text()
    assert panel.get_by_role("button", name="Thumbs up").get_attribute("aria-pressed") == "true"

    # Add a categorical score with a comment.
    panel.locator("summary", has_text="Add a score").click()
    form = panel.locator("form.score-form[data-config=correctness]")
    form.locator("select[name=value]").select_option("partly")
    form.locator("textarea[name=comment]").fill("Missed the refund window rule.")
    panel.screenshot(path=SCREENSHOTS / "e2e-score-panel-form.png")
    form.get_by_role("button", name="Save correctness").click()
    item = panel.locator(".score-item[data-score-name=correctness]")
    item.wait_for()
    assert "partly" in item.inner_text() and "Missed the refund window rule." in item.inner_text()
    page.screenshot(path=SCREENSHOTS / "e2e-score-panel.png", full_page=True)

    saved = {s.name: s for s in Score.objects.filter(project=acme.project, trace_id="t-annotate")}
    assert (saved["thumbs"].value, saved["thumbs"].source, saved["thumbs"].author_user_id) == (
        1.0,
        "ANNOTATION",
        alice.pk,
    )
    assert (saved["correctness"].value, saved["correctness"].string_value) == (0.5, "partly")
    assert (saved["correctness"].comment, saved["correctness"].config_id) == (
        "Missed the refund window rule.",
        str(config.pk),
    )

    # A span's panel is its own: mark the span bad; the trace keeps its two scores.
    page.goto(f"/p/{pid}/trace/t-annotate?observation=span-1")
    panel = page.locator("[data-testid=score-panel]")
    panel.wait_for()
    panel.get_by_role("button", name="Mark bad").click()
    panel.locator(".score-item[data-score-name=quality]").wait_for()
    assert "Bad" in panel.locator(".score-item[data-score-name=quality]").inner_text()
    span_score = Score.objects.get(project=acme.project, observation_id="span-1")
    assert (span_score.trace_id, span_score.name, span_score.value) == ("t-annotate", "quality", 0.0)

    # Remove one's own annotation.
    panel.get_by_role("button", name="Remove your quality score").click()
    panel.get_by_text("No scores on this observation yet").wait_for()
    assert not Score.objects.filter(project=acme.project, observation_id="span-1").exists()
    assert_only_local_requests(page)
