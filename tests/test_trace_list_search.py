"""The trace list's search hybrid (walk the sort index, then the trigram index) returns exactly the rows, in
exactly the order, of a plain ordered query, page after page; and the cost/latency ranges written on the sort
indexes' expressions keep their meaning (a trace without a cost or latency is in no range)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.conftest import Tenant
from traces import selectors
from traces.filters import parse_trace_filters
from traces.services import TraceIn, trace_batch_write

NOW = timezone.now().replace(microsecond=0)
SORT_SQL = {"time": "timestamp", "cost": "COALESCE(total_cost, -1)", "latency": "COALESCE(latency_ms, -1)"}


def _text(n: int) -> str:
    words = [f"entry {n}"]
    if n % 3 == 0:
        words.append("Customer asks for a REFUND")  # common: a third of the traces
    if n % 5 == 0:
        words.append("申请退款")  # CJK, every fifth
    if n in (4, 41, 77):
        words.append("zephyr-lantern")  # rare, spread over the range
    if n in (2, 9, 30, 70):
        words.append("wombat")
    return ", ".join(words)


def _cost(n: int) -> Decimal | None:
    return None if n % 7 == 0 else Decimal(n % 4) / 100


def _latency(n: int) -> int | None:
    return None if n % 7 == 0 else (n % 5) * 100


@pytest.fixture
def corpus(acme: Tenant) -> int:
    """90 traces, three of them in the other project; runs of equal timestamps and costs, so pages start inside
    ties; some without a cost."""
    pid = acme.project.pk
    trace_batch_write(
        project_id=pid,
        traces=[
            TraceIn(
                id=f"s{n:03d}",
                timestamp=NOW - timedelta(minutes=n // 3),  # three traces per minute
                input={"messages": [{"role": "user", "content": _text(n)}]},
                output="ok",
                total_cost=_cost(n),
                latency_ms=_latency(n),
            )
            for n in range(90)
        ],
    )
    return pid


def _brute_force(pid: int, q: str, sort: str) -> list[str]:
    """Every matching id in the sort, by one plain SQL query (no index bound, no LIMIT, no hybrid)."""
    key, descending = SORT_SQL[sort.lstrip("-")], sort.startswith("-")
    direction = "DESC" if descending else "ASC"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM traces_trace WHERE project_id = %s "  # noqa: S608 - constant SQL
            "AND sightline_trace_search_text(input, output) ILIKE sightline_search_spacing(%s) "
            f"ORDER BY {key} {direction}, id {direction}",
            [pid, selectors._like_pattern(q)],
        )
        return [row[0] for row in cursor.fetchall()]


def _all_pages(pid: int, params: dict[str, str], size: int) -> tuple[list[str], list[list[str]]]:
    """The ids of every page, following the next-page cursor through the URL as the page does."""
    seen: list[str] = []
    pages: list[list[str]] = []
    query = dict(params)
    while True:
        filters = parse_trace_filters(QueryDict(urlencode(query)), now=timezone.now())
        page = selectors.trace_list_page(project_id=pid, filters=filters, size=size)
        pages.append([row["id"] for row in page.rows])
        seen += pages[-1]
        if page.next_cursor is None:
            return seen, pages
        query["cursor"] = page.next_cursor.encode()


@pytest.mark.parametrize("steps", [(500, 4_500), (4, 6), (1,)])
@pytest.mark.parametrize("size", [1, 4, 50])
@pytest.mark.parametrize("sort", ["-time", "time", "-cost", "latency"])
@pytest.mark.parametrize("q", ["refund", "退款", "zephyr-lantern", "no-such-words"])
def test_search_pages_are_exactly_the_plain_ordered_query(
    corpus: int, monkeypatch: Any, steps: tuple[int, ...], size: int, sort: str, q: str
) -> None:
    """Small walk steps make every page mix the strategies: rows from the walk, a boundary inside a run of
    ties, then the index for the rest (and a walk that ends at the end of the range)."""
    monkeypatch.setattr(selectors, "SEARCH_WALK_STEPS", steps)
    expected = _brute_force(corpus, q, sort)

    seen, pages = _all_pages(corpus, {"q": q, "sort": sort, "range": "all"}, size)

    assert seen == expected
    assert all(len(page) == size for page in pages[:-1])  # full pages until the last one
    assert len(pages) == max(1, -(-len(expected) // size))  # no empty page after a full one


def test_rows_found_by_the_walk_are_the_rows_the_plain_list_shows(corpus: int) -> None:
    """The walk's raw SQL returns the same values (types, previews) the ORM does for the list without `q`."""
    plain = parse_trace_filters(QueryDict("range=all"), now=timezone.now())
    by_id = {row["id"]: row for row in selectors.trace_list_page(project_id=corpus, filters=plain, size=100).rows}
    searched = parse_trace_filters(QueryDict("range=all&q=refund"), now=timezone.now())

    rows = selectors.trace_list_page(project_id=corpus, filters=searched, size=10).rows

    assert len(rows) == 10
    for row in rows:
        assert row == by_id[row["id"]]
    assert rows[0]["input_preview"] == _text(0) and isinstance(rows[1]["total_cost"], Decimal)


def _strategies(queries: list[dict[str, str]]) -> list[str]:
    """Which way each search statement read the traces: the bounded walk or the plain (index) query."""
    return [
        "walk" if "FROM (SELECT" in query["sql"] else "index"
        for query in queries
        if "sightline_trace_search_text" in query["sql"]
    ]


@pytest.mark.parametrize(
    ("q", "strategies"),
    [
        ("refund", ["walk"]),  # common: the first step fills the page
        ("zephyr-lantern", ["walk", "index"]),  # rare: 1 in the first 20 does not promise 5 more in 40
        ("no-such-words", ["walk", "index"]),
        ("wombat", ["walk", "walk", "index"]),  # 2 in the first 20 promise 4 in 40: walk on, then the index
    ],
)
def test_common_terms_are_walked_and_rare_ones_read_from_the_index(
    corpus: int, monkeypatch: Any, q: str, strategies: list[str]
) -> None:
    monkeypatch.setattr(selectors, "SEARCH_WALK_STEPS", (20, 40))
    filters = parse_trace_filters(QueryDict(urlencode({"q": q, "range": "all"})), now=timezone.now())

    with CaptureQueriesContext(connection) as captured:
        page = selectors.trace_list_page(project_id=corpus, filters=filters, size=5)

    assert _strategies(captured.captured_queries) == strategies
    assert [row["id"] for row in page.rows] == _brute_force(corpus, q, "-time")[:5]


def test_search_stays_in_its_project(corpus: int, globex: Tenant) -> None:
    trace_batch_write(
        project_id=globex.project.pk,
        traces=[TraceIn(id=f"g{n}", timestamp=NOW, input=f"refund {n}") for n in range(60)],
    )
    filters = parse_trace_filters(QueryDict("q=refund&range=all"), now=timezone.now())

    seen, _ = _all_pages(corpus, {"q": "refund", "range": "all"}, 50)

    assert seen == _brute_force(corpus, "refund", "-time") and not any(i.startswith("g") for i in seen)
    assert len(selectors.trace_list_page(project_id=globex.project.pk, filters=filters).rows) == 50


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        ({"cost_max": "0.01"}, lambda n: _cost(n) is not None and _cost(n) <= Decimal("0.01")),
        ({"cost_min": "0"}, lambda n: _cost(n) is not None),
        ({"cost_min": "0.02", "cost_max": "0.02"}, lambda n: _cost(n) == Decimal("0.02")),
        ({"latency_max": "100"}, lambda n: _latency(n) is not None and _latency(n) <= 100),
        ({"latency_min": "0"}, lambda n: _latency(n) is not None),
        ({"latency_min": "400"}, lambda n: _latency(n) == 400),
    ],
)
def test_cost_and_latency_ranges_leave_out_traces_without_them(
    corpus: int, params: dict[str, str], keep: Callable[[int], bool]
) -> None:
    """Every seventh trace has no cost or latency (NULL, which the sort indexes hold as -1): in no range."""
    filters = parse_trace_filters(QueryDict(urlencode({**params, "sort": "time", "range": "all"})), now=timezone.now())

    ids = [row["id"] for row in selectors.trace_list_page(project_id=corpus, filters=filters, size=100).rows]

    oldest_first = sorted(range(90), key=lambda n: (-(n // 3), n))  # three per minute, ties by id
    assert ids == [f"s{n:03d}" for n in oldest_first if keep(n)]
    assert 0 < len(ids) < 90 - 12


@pytest.mark.parametrize("sort", ["-time", "cost"])
@pytest.mark.parametrize("q", ["refund", "zephyr-lantern", "no-such-words"])
def test_a_search_out_of_page_budget_answers_partial_pages_that_add_up_to_the_plain_query(
    corpus: int, monkeypatch: Any, sort: str, q: str
) -> None:
    """With no page budget every page stops after one walk step and says where; following its `scan` link
    (walk only, the index not tried again) page after page finds exactly the plain query's rows."""
    monkeypatch.setattr(selectors, "SEARCH_WALK_STEPS", (7, 11))
    monkeypatch.setattr(selectors, "SEARCH_PAGE_BUDGET_S", 0)
    expected = _brute_force(corpus, q, sort)
    seen: list[str] = []
    partial_pages = 0
    query = {"q": q, "sort": sort, "range": "all"}
    while True:
        filters = parse_trace_filters(QueryDict(urlencode(query)), now=timezone.now())
        with CaptureQueriesContext(connection) as captured:
            page = selectors.trace_list_page(project_id=corpus, filters=filters, size=4)
        assert "index" not in _strategies(captured.captured_queries)  # no budget left for it
        seen += [row["id"] for row in page.rows]
        partial_pages += page.partial
        assert page.scanned == 7  # one step of the smallest size, then out of time
        if page.next_cursor is None:
            break
        query = {**query, "cursor": page.next_cursor.encode(), "scan": "1" if page.scan else ""}
    assert seen == expected
    assert partial_pages >= 90 // 7 - len(expected) // 4  # most pages stopped early


def test_an_index_search_past_the_budget_falls_back_to_walking(corpus: int, monkeypatch: Any) -> None:
    """The index query runs under what is left of the page budget; cancelled, the page walks on instead and
    still answers in order (here the walk reaches the end of the range within the budget)."""
    monkeypatch.setattr(selectors, "SEARCH_WALK_STEPS", (5, 5))
    monkeypatch.setattr(selectors, "SEARCH_INDEX_MIN_MS", 0)
    real_budget = selectors._search_budget

    def tiny(active: bool, milliseconds: float | None = None) -> Any:
        # The index's budget (the only one given in the call) becomes 1 ms; pg_sleep makes it run out.
        return real_budget(active, None if milliseconds is None else 1)

    monkeypatch.setattr(selectors, "_search_budget", tiny)
    real_values = selectors._page_values
    monkeypatch.setattr(
        selectors, "_page_values", lambda traces: real_values(traces.extra(where=["pg_sleep(0.01) IS NOT NULL"]))
    )
    filters = parse_trace_filters(QueryDict("q=zephyr-lantern&range=all"), now=timezone.now())
    with CaptureQueriesContext(connection) as captured:
        page = selectors.trace_list_page(project_id=corpus, filters=filters, size=5)
    strategies = _strategies(captured.captured_queries)
    assert strategies[:2] == ["walk", "index"] and set(strategies[2:]) == {"walk"}
    assert [row["id"] for row in page.rows] == _brute_force(corpus, "zephyr-lantern", "-time")
    assert not page.partial and not page.scan and page.next_cursor is None


def test_scan_pages_walk_without_the_index_and_hand_scan_on(corpus: int, monkeypatch: Any) -> None:
    """A page stopped before it tried the index asks the next page to try it (no scan); a scan page walks only
    and, stopped again, hands scan on."""
    monkeypatch.setattr(selectors, "SEARCH_WALK_STEPS", (5, 5))
    monkeypatch.setattr(selectors, "SEARCH_PAGE_BUDGET_S", 0)
    first = parse_trace_filters(QueryDict("q=zephyr-lantern&range=all"), now=timezone.now())
    page = selectors.trace_list_page(project_id=corpus, filters=first, size=5)
    assert page.partial and not page.scan and page.next_cursor is not None
    query = {"q": "zephyr-lantern", "range": "all", "cursor": page.next_cursor.encode(), "scan": "1"}
    following = parse_trace_filters(QueryDict(urlencode(query)), now=timezone.now())
    with CaptureQueriesContext(connection) as captured:
        page = selectors.trace_list_page(project_id=corpus, filters=following, size=5)
    assert _strategies(captured.captured_queries) == ["walk"] and page.partial and page.scan


def test_a_trace_arriving_during_a_walk_step_does_not_push_a_walked_trace_out(corpus: int, monkeypatch: Any) -> None:
    """Ingestion goes on while a search walks: a trace stored just before a walk step reads its stretch lands
    in that stretch (it is the newest) and must not push the stretch's last trace out unread, or the next step,
    which starts after it, never reads it (here s004, the newest match)."""
    monkeypatch.setattr(selectors, "SEARCH_WALK_STEPS", (5, 5))
    arrived: list[str] = []

    def ingest_first(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        if not arrived and "FROM (SELECT" in sql and "sightline_trace_search_text" in sql:
            arrived.append("late")
            trace_batch_write(project_id=corpus, traces=[TraceIn(id="late", timestamp=NOW + timedelta(seconds=1))])
        return execute(sql, params, many, context)

    filters = parse_trace_filters(QueryDict("q=zephyr-lantern&range=all"), now=timezone.now())
    with connection.execute_wrapper(ingest_first):
        page = selectors.trace_list_page(project_id=corpus, filters=filters, size=5)
    assert arrived
    assert (
        [row["id"] for row in page.rows]
        == _brute_force(corpus, "zephyr-lantern", "-time")
        == [
            "s004",
            "s041",
            "s077",
        ]
    )
