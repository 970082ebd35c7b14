"""The trace list in a real browser: sign in → list → filter by a field (and back) → search → star →
bulk delete → the "new traces" notice after an ingestion."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from tests.conftest import Tenant
from tests.e2e.conftest import assert_only_local_requests, sign_in_as
from traces.models import Trace
from traces.services import ObservationIn, ScoreIn, TraceIn, trace_batch_write

pytestmark = pytest.mark.e2e


def _ingest(project_id: int, trace_id: str, name: str, text: str, minutes_ago: int) -> None:
    start = timezone.now() - timedelta(minutes=minutes_ago)
    trace_batch_write(
        project_id=project_id,
        traces=[TraceIn(id=trace_id, timestamp=start, name=name, user_id="u1", input=text, output="ok")],
        observations=[
            ObservationIn(
                id=f"{trace_id}-gen",
                trace_id=trace_id,
                start_time=start,
                end_time=start + timedelta(milliseconds=800),
                type="GENERATION",
                model="gpt-4o",
                usage={"input": 12, "output": 8},
                cost={"total": 0.002},
            )
        ],
    )


def _row_ids(page: Any) -> list[str]:
    return page.locator("tbody tr[data-trace-id]").evaluate_all("rows => rows.map(r => r.dataset.traceId)")


def test_trace_list_journey(e2e_page: Any, live_server: Any, acme: Tenant, alice: Any) -> None:
    page = e2e_page
    pid = acme.project.pk
    _ingest(pid, "trace-chat-1", "chat", "What is the capital of France?", 5)
    _ingest(pid, "trace-chat-2", "chat", "東京タワーの高さは", 10)
    _ingest(pid, "trace-rag-1", "rag", "Summarise the quarterly report", 15)
    _ingest(pid, "trace-rag-2", "rag", "Crème brûlée, step by step", 20)
    verdicts = (("trace-chat-1", "correct"), ("trace-rag-1", "wrong"), ("trace-rag-2", "correct"))
    trace_batch_write(
        project_id=pid,
        scores=[
            ScoreIn(id=f"v-{tid}", name="verdict", string_value=label, data_type="CATEGORICAL", trace_id=tid,
                    timestamp=timezone.now())
            for tid, label in verdicts
        ],
    )  # fmt: skip

    sign_in_as(page, alice, live_server.url)
    page.goto(f"/p/{pid}/traces/")
    assert _row_ids(page) == ["trace-chat-1", "trace-chat-2", "trace-rag-1", "trace-rag-2"]

    # Filter by a field: the state lands in the URL, and the back button returns to the unfiltered list.
    page.get_by_text("Filters", exact=True).click()
    page.get_by_label("Name", exact=True).fill("rag")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"name=rag"))
    assert "q=" not in page.url  # empty fields stay out of shared links
    assert _row_ids(page) == ["trace-rag-1", "trace-rag-2"]
    page.get_by_text("name: rag").wait_for()
    page.go_back()
    page.wait_for_url(re.compile(r"/traces/$"))
    assert len(_row_ids(page)) == 4

    # Filter by a categorical score's label: name and label land in the URL and in a chip of their own.
    page.get_by_text("Filters", exact=True).click()
    page.get_by_label("Score name").fill("verdict")
    page.get_by_label("Score label").fill("correct")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"score=verdict&score_value=correct"))
    assert _row_ids(page) == ["trace-chat-1", "trace-rag-2"]
    page.get_by_role("link", name=re.compile("^verdict is correct")).click()  # the chip drops the label alone
    page.wait_for_url(re.compile(r"\?score=verdict$"))
    assert len(_row_ids(page)) == 3
    page.goto(f"/p/{pid}/traces/")

    # Search, with "/" to reach the box: a CJK substring finds its trace.
    page.keyboard.press("/")
    page.keyboard.type("タワー")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"q=%E3%82%BF"))
    assert _row_ids(page) == ["trace-chat-2"]

    # Star it; the starred filter then shows only it.
    star = page.locator('tr[data-trace-id="trace-chat-2"] [data-testid=star]')
    star.click()
    page.locator('tr[data-trace-id="trace-chat-2"] [data-testid=star][aria-pressed=true]').wait_for()
    assert Trace.objects.get(project_id=pid, id="trace-chat-2").bookmarked
    page.goto(f"/p/{pid}/traces/")
    page.get_by_label("Starred").check()  # applies on change
    page.wait_for_url(re.compile(r"starred=1"))
    assert _row_ids(page) == ["trace-chat-2"]

    # Bulk delete two traces after confirming.
    page.goto(f"/p/{pid}/traces/")
    page.locator('tr[data-trace-id="trace-rag-1"] input[type=checkbox]').check()
    page.locator('tr[data-trace-id="trace-rag-2"] input[type=checkbox]').check()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("bulk-delete").click()
    page.get_by_text("Deleted 2 traces").wait_for()
    assert _row_ids(page) == ["trace-chat-1", "trace-chat-2"]
    assert not Trace.objects.filter(project_id=pid, id__in=["trace-rag-1", "trace-rag-2"]).exists()

    # A trace ingested while the page is open announces itself; following the notice shows it.
    _ingest(pid, "trace-late", "chat", "Arrived while you were looking", 0)
    notice = page.get_by_test_id("new-traces")
    notice.wait_for(timeout=15_000)
    assert "1 new trace" in notice.inner_text()
    notice.click()
    page.wait_for_load_state()
    assert _row_ids(page)[0] == "trace-late"

    # Each row opens the trace.
    page.locator('tr[data-trace-id="trace-late"] a.trace-link').click()
    page.wait_for_url(re.compile(r"/trace/trace-late"))
    assert_only_local_requests(page)
