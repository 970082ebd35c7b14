"""The trace list through HTTP and its selector: every filter, every sort with keyset pages, search over
CJK/Arabic/accented text and substrings (and that the trigram index serves it on this database), bad
parameters, the new-traces notice, star, bulk delete, tenancy, roles and a query count constant in rows."""

from __future__ import annotations

import base64
import html
import json
import re
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.http import QueryDict
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from projects.models import Membership, Role
from tests.conftest import Tenant
from traces import selectors
from traces.filters import COLUMNS, Cursor, parse_trace_filters
from traces.models import Observation, Score, Trace
from traces.services import ObservationIn, ScoreIn, TraceIn, trace_batch_write

HTMX = {"HTTP_HX_REQUEST": "true"}
NOW = timezone.now().replace(microsecond=0)


@pytest.fixture(autouse=True)
def _plain_static_storage(settings: Any) -> None:
    """Pages use {% static %}; without DEBUG the manifest storage needs collectstatic, which tests skip."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def _trace(
    project_id: int,
    trace_id: str,
    *,
    ago: timedelta = timedelta(hours=1),
    latency_ms: int = 1000,
    model: str | None = None,
    level: str | None = None,
    usage: dict[str, int] | None = None,
    cost: float | None = None,
    scores: tuple[tuple[str, float], ...] = (),
    **fields: Any,
) -> None:
    """One trace with one span (which sets latency, tokens, cost, level and model) and its scores."""
    start = NOW - ago
    trace_batch_write(
        project_id=project_id,
        traces=[TraceIn(id=trace_id, timestamp=start, **fields)],
        observations=[
            ObservationIn(
                id=f"{trace_id}-span",
                trace_id=trace_id,
                start_time=start,
                end_time=start + timedelta(milliseconds=latency_ms),
                type="GENERATION" if model else "SPAN",
                model=model,
                level=level,
                usage=usage,
                cost={"total": cost} if cost is not None else None,
            )
        ],
        scores=[
            ScoreIn(id=f"{trace_id}-{name}", name=name, value=value, timestamp=start, trace_id=trace_id)
            for name, value in scores
        ],
    )


@pytest.fixture
def zoo(acme: Tenant) -> Tenant:
    """Four traces that differ in every filterable field (and one in another project)."""
    pid = acme.project.pk
    _trace(
        pid,
        "t-a",
        name="chat",
        user_id="u1",
        session_id="s1",
        tags=["prod", "beta"],
        environment="production",
        release="v1",
        metadata={"region": "eu", "tier": 3},
        input="hello world",
        output="bonjour",
        model="gpt-4o",
        usage={"input": 60, "output": 40},
        cost=0.5,
        latency_ms=2000,
        scores=(("quality", 0.9),),
        ago=timedelta(hours=1),
    )
    _trace(
        pid,
        "t-b",
        name="search",
        user_id="u2",
        session_id="s2",
        tags=["prod"],
        environment="staging",
        release="v2",
        metadata={"region": "us"},
        input={"messages": [{"role": "user", "content": "東京タワーはどこですか"}]},
        output="مرحبا بالعالم",
        model="claude-3",
        level="ERROR",
        usage={"input": 6, "output": 4},
        cost=0.01,
        latency_ms=500,
        scores=(("quality", 0.2),),
        ago=timedelta(hours=2),
    )
    _trace(
        pid,
        "t-c",
        name="chat",
        user_id="u1",
        session_id="s3",
        environment="production",
        input="Crème brûlée recipe",
        model="gpt-4o-mini",
        level="WARNING",
        usage={"input": 500, "output": 500},
        latency_ms=10_000,
        ago=timedelta(hours=3),
    )
    _trace(pid, "t-old", name="chat", input="old news", latency_ms=100, ago=timedelta(days=20))
    Trace.objects.filter(project_id=pid, id="t-c").update(bookmarked=True)
    return acme


def _list_url(tenant: Tenant, **params: Any) -> str:
    pairs = [(k, v) for k, values in params.items() for v in (values if isinstance(values, list) else [values])]
    return reverse("trace-list", args=[tenant.project.pk]) + ("?" + urlencode(pairs) if pairs else "")


def _ids(body: str) -> list[str]:
    return re.findall(r'<tr data-trace-id="([^"]+)"', body)


class _Cells(HTMLParser):
    """The text of each cell of one table row, and the cells' own HTML attributes (title, class)."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[dict[str, str]] = []
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "td":
            self._depth += 1
            if self._depth == 1:
                self.cells.append({"text": "", **{k: v or "" for k, v in attrs}})

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._depth:
            self.cells[-1]["text"] += f" {data}"  # elements are separate words


def _row(body: str, trace_id: str) -> tuple[str, list[dict[str, str]]]:
    """One row's HTML and its cells, whitespace collapsed."""
    row = re.search(rf'<tr data-trace-id="{re.escape(trace_id)}".*?</tr>', body, re.S).group(0)
    parser = _Cells()
    parser.feed(row)
    for cell in parser.cells:
        cell["text"] = " ".join(cell["text"].split())
    return row, parser.cells


# --- Rendering ------------------------------------------------------------------------------------------


def test_rows_show_every_column_and_link_to_the_trace(alice_client: Client, zoo: Tenant) -> None:
    body = alice_client.get(_list_url(zoo, col=list(COLUMNS))).content.decode()

    assert _ids(body) == ["t-a", "t-b", "t-c"]  # newest first; t-old is outside the default 7 days
    row, cells = _row(body, "t-a")
    check, star, time, name, user, session, tags, env, latency, tokens, cost, scores, io = cells
    start = timezone.localtime(NOW - timedelta(hours=1))
    assert f'<time datetime="{start.isoformat()}"' in row and time["text"] == f"{start:%b} {start.day} {start:%H:%M:%S}"
    assert name["text"] == "chat t-a" and f'href="{reverse("trace-detail", args=[zoo.project.pk, "t-a"])}"' in row
    assert (user["text"], session["text"]) == ("u1", "s1")
    assert 'href="?col=time&amp;col=user&amp;col=session' in row and "&amp;user=u1" in row  # filter by the user
    assert tags["text"] == "prod beta" and env["text"] == "production v1"
    assert (latency["text"], cost["text"]) == ("2.00s", "$0.5000")
    assert tokens["text"] == "100" and tokens["title"] == "60 in · 40 out"
    assert scores["text"] == "quality 0.90"
    assert io["text"] == "In hello world Out bonjour"
    assert 'data-testid="star"' in row and star["text"] == "☆" and check["text"] == ""

    _, cells = _row(body, "t-b")
    assert cells[3]["text"] == "search 1 error t-b"  # t-b's ERROR span
    assert cells[7]["text"] == "staging v2" and cells[8]["text"] == "500ms" and cells[9]["text"] == "10"
    assert cells[10]["text"] == "$0.0100" and cells[11]["text"] == "quality 0.20"
    assert cells[12]["text"] == "In 東京タワーはどこですか Out مرحبا بالعالم"  # chat input: the last message's content
    _, cells = _row(body, "t-c")
    assert cells[1]["text"] == "★" and cells[6]["text"] == "" and cells[10]["text"] == "—" and cells[11]["text"] == "—"
    assert cells[8]["text"] == "10.00s" and cells[9]["text"] == "1000" and cells[12]["text"] == "In Crème brûlée recipe"


def test_previews_are_short_and_escaped(alice_client: Client, acme: Tenant) -> None:
    _trace(
        acme.project.pk,
        "evil",
        name="<script>alert(1)</script>",
        input="<img src=x onerror=alert(2)>" + "x" * 10_000,
        output={"html": "<b>bold</b>"},
    )
    body = alice_client.get(_list_url(acme)).content.decode()

    assert "<script>alert(1)" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<img src=x" not in body and "&lt;img src=x onerror=alert(2)&gt;" in body
    assert "<b>bold</b>" not in body
    assert "x" * (selectors.PREVIEW_CHARS + 1) not in body


def test_hostile_trace_ids_stay_inside_their_attributes(alice_client: Client, acme: Tenant) -> None:
    hostile = """x"'><script>alert(3)</script>\\"""
    _trace(acme.project.pk, hostile, name="weird id")
    body = alice_client.get(_list_url(acme)).content.decode()

    assert "<script>alert(3)" not in body
    vals = re.search(r"hx-vals='([^']*trace_id[^']*)'", body).group(1)
    assert json.loads(html.unescape(vals)) == {"trace_id": hostile, "starred": "1"}
    assert f'href="{html.escape(reverse("trace-detail", args=[acme.project.pk, hostile]))}"' in body


def test_an_empty_project_teaches_how_to_send_the_first_trace(alice_client: Client, acme: Tenant) -> None:
    body = alice_client.get(_list_url(acme, name="anything")).content.decode()

    assert "Send your first trace" in body and acme.public_key in body
    assert 'data-testid="no-matches"' not in body


def test_filters_that_match_nothing_say_so_with_a_clear_link(alice_client: Client, zoo: Tenant) -> None:
    body = alice_client.get(_list_url(zoo, name="nope")).content.decode()

    assert "No traces match these filters" in body
    assert f'href="{reverse("trace-list", args=[zoo.project.pk])}" data-testid="clear-filters"' in body
    assert "Send your first trace" not in body


# --- Filters ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"name": "chat"}, ["t-a", "t-c"]),
        ({"name": "chat", "range": "all"}, ["t-a", "t-c", "t-old"]),
        ({"range": "1h"}, []),  # t-a started exactly an hour ago, a moment before the window
        ({"range": "6h"}, ["t-a", "t-b", "t-c"]),
        ({"range": "30d"}, ["t-a", "t-b", "t-c", "t-old"]),
        ({"from": (NOW - timedelta(days=21)).isoformat(), "to": (NOW - timedelta(days=19)).isoformat()}, ["t-old"]),
        ({"from": (NOW - timedelta(minutes=150)).strftime("%Y-%m-%dT%H:%M")}, ["t-a", "t-b"]),
        ({"from": (NOW - timedelta(minutes=150)).isoformat(), "range": "custom"}, ["t-a", "t-b"]),
        ({"from": (NOW - timedelta(days=21)).isoformat(), "range": "30d"}, ["t-a", "t-b", "t-c", "t-old"]),
        ({"user": "u1"}, ["t-a", "t-c"]),
        ({"session": "s2"}, ["t-b"]),
        ({"tag": "prod"}, ["t-a", "t-b"]),
        ({"tag": ["prod", "beta"]}, ["t-a"]),
        ({"env": "staging"}, ["t-b"]),
        ({"release": "v1"}, ["t-a"]),
        ({"model": "gpt-4o"}, ["t-a"]),  # exact: not gpt-4o-mini
        ({"level": "WARNING"}, ["t-c"]),
        ({"level": "error"}, ["t-b"]),
        ({"errors": "1"}, ["t-b"]),
        ({"score": "quality"}, ["t-a", "t-b"]),
        ({"score": "quality", "score_min": "0.5"}, ["t-a"]),
        ({"score": "quality", "score_max": "0.5"}, ["t-b"]),
        ({"cost_min": "0.1"}, ["t-a"]),
        ({"cost_max": "0.1"}, ["t-b"]),
        ({"latency_min": "1000"}, ["t-a", "t-c"]),
        ({"latency_max": "1000"}, ["t-b"]),
        ({"meta": "region=eu"}, ["t-a"]),
        ({"meta": "tier=3"}, ["t-a"]),  # the URL's "3" also matches the number 3
        ({"meta": ["region=eu", "tier=4"]}, []),
        ({"starred": "1"}, ["t-c"]),
        ({"name": "chat", "user": "u1", "tag": "beta"}, ["t-a"]),
    ],
)
def test_each_filter(alice_client: Client, zoo: Tenant, params: dict[str, Any], expected: list[str]) -> None:
    response = alice_client.get(_list_url(zoo, **params))

    assert response.status_code == 200
    body = response.content.decode()
    assert _ids(body) == expected
    assert 'data-testid="filter-problems"' not in body


def _labels(project_id: int) -> None:
    """Categorical and boolean scores on the zoo's traces (one on a span), and a TEXT score that shares a name
    and a string with a categorical one but is free text, not a label."""
    rows = [
        ("v-a", "verdict", "correct", "CATEGORICAL", "t-a", None),
        ("v-b", "verdict", "wrong", "CATEGORICAL", "t-b", "t-b-span"),  # on the trace's span
        ("v-c", "verdict", "correct", "TEXT", "t-c", None),
        ("h-a", "helpful", "False", "BOOLEAN", "t-a", None),
        ("h-c", "helpful", "True", "BOOLEAN", "t-c", None),
        ("x-b", "other", "correct", "CATEGORICAL", "t-b", None),
    ]
    trace_batch_write(
        project_id=project_id,
        scores=[
            ScoreIn(
                id=sid, name=name, string_value=label, data_type=kind, trace_id=tid, observation_id=oid,
                value=(1.0 if label == "True" else 0.0) if kind == "BOOLEAN" else None, timestamp=NOW,
            )
            for sid, name, label, kind, tid, oid in rows
        ],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"score": "verdict", "score_value": "correct"}, ["t-a"]),  # not t-c's free-text "correct"
        ({"score": "verdict", "score_value": "wrong"}, ["t-b"]),  # a span's score counts for its trace
        ({"score": "verdict", "score_value": "Correct"}, []),  # labels match exactly
        ({"score": "verdict", "score_value": "correc"}, []),  # whole labels only
        ({"score": "helpful", "score_value": "True"}, ["t-c"]),
        ({"score": "helpful", "score_value": "false"}, ["t-a"]),  # booleans in any case
        ({"score": "other", "score_value": "correct"}, ["t-b"]),
        ({"score": "verdict"}, ["t-a", "t-b", "t-c"]),
        ({"score": "verdict", "score_value": "correct", "name": "search"}, []),
    ],
)
def test_score_label_filter(alice_client: Client, zoo: Tenant, params: dict[str, str], expected: list[str]) -> None:
    _labels(zoo.project.pk)
    body = alice_client.get(_list_url(zoo, **params)).content.decode()

    assert _ids(body) == expected
    assert 'data-testid="filter-problems"' not in body
    # The form shows the label it filtered by, and the chip removes the label alone.
    assert f'name="score_value" value="{params.get("score_value", "")}"' in body
    if "score_value" in params:
        chip = f"{params['score']} is {params['score_value']}"
        assert chip in body
        rest = parse_trace_filters(
            QueryDict(urlencode([(k, v) for k, v in params.items() if k != "score_value"])), now=timezone.now()
        ).query()
        assert f'href="?{html.escape(rest)}" title="Remove this filter">{chip}' in body


def test_score_label_without_a_name_is_explained(alice_client: Client, zoo: Tenant) -> None:
    _labels(zoo.project.pk)
    body = alice_client.get(_list_url(zoo, score_value="correct")).content.decode()

    assert "A score label needs a score name" in body and _ids(body) == ["t-a", "t-b", "t-c"]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("東京", ["t-b"]),  # CJK, two characters
        ("京", ["t-b"]),  # and one
        ("京タ", ["t-b"]),
        ("京 タ", []),  # the characters are not separated by a space in the text
        ("タワーはどこ", ["t-b"]),  # CJK substring in the middle of a word
        ("بالعالم", ["t-b"]),  # Arabic
        ("رحب", ["t-b"]),  # Arabic substring
        ("brûlée", ["t-c"]),  # accented Latin
        ("CRÈME BRÛ", ["t-c"]),  # case-insensitive, accents included
        ("llo wor", ["t-a"]),  # a substring across words
        ("bonjour", ["t-a"]),  # output is searched too
        ("role", []),  # JSON keys are not content
        ("%", []),  # LIKE wildcards are literal
        ("_", []),
    ],
)
def test_search_finds_substrings_and_non_english_text(
    alice_client: Client, zoo: Tenant, q: str, expected: list[str]
) -> None:
    assert _ids(alice_client.get(_list_url(zoo, q=q)).content.decode()) == expected


@pytest.mark.parametrize("term", ["東京タワー", "東京", "京", "مرحبا", "brûlée"])
def test_search_terms_are_answered_by_the_trigram_index(acme: Tenant, term: str) -> None:
    """pg_trgm indexes only what this database's LC_CTYPE calls word characters: prove that CJK, Arabic and
    accented letters are, by reading `trace_search` for the term and seeing that no non-matching row needed
    a recheck (a term without extracted trigrams makes the index return every row)."""
    pid = acme.project.pk
    for n in range(40):
        _trace(pid, f"filler-{n}", input=f"unrelated text number {n}", output="nothing to see")
    _trace(pid, "needle", input={"messages": [{"content": "東京タワー"}]}, output="مرحبا Crème brûlée")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # 41 rows would otherwise be read sequentially
        cursor.execute(
            "EXPLAIN (ANALYZE, FORMAT JSON) SELECT id FROM traces_trace "
            "WHERE sightline_trace_search_text(input, output) ILIKE sightline_search_spacing(%s)",
            [selectors._like_pattern(term)],
        )
        plan = cursor.fetchone()[0][0]["Plan"]
    index_scan = plan["Plans"][0]
    assert (index_scan["Node Type"], index_scan["Index Name"]) == ("Bitmap Index Scan", "trace_search")
    # Without trigrams GIN returns every row and the recheck drops the 40 fillers; with them, none reach it.
    assert (plan["Actual Rows"], plan["Rows Removed by Index Recheck"]) == (1, 0)
    filters = parse_trace_filters(QueryDict(urlencode({"q": term})), now=timezone.now())
    assert [row["id"] for row in selectors.trace_list_page(project_id=pid, filters=filters).rows] == ["needle"]


def _raw_cursor(value: str) -> str:
    """A page link whose sort value is `value` as written (Cursor.encode takes typed values)."""
    return base64.urlsafe_b64encode(json.dumps([value, "t-a"]).encode()).decode()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"latency_min": "fast"}, "latency_min must be a number"),
        ({"cost_min": "-1"}, "cost_min cannot be negative"),
        ({"cost_min": "2", "cost_max": "1"}, "cost_min is greater than cost_max"),
        ({"range": "2y"}, "Unknown time range"),
        ({"from": "yesterday"}, "is not a date and time for from"),
        ({"sort": "-name"}, "Cannot sort by"),
        ({"cursor": "not-a-cursor"}, "The page link is out of date"),
        ({"level": "LOUD"}, "Unknown level"),
        ({"meta": "no-equals-sign"}, "must look like key=value"),
        ({"score_min": "0.5"}, "needs a score name"),
        ({"name": "x" * 600}, "longer than 500 characters"),
        # PostgreSQL text cannot hold a NUL: each would have been a DataError (a 500).
        ({"score": "a\x00b", "score_value": "a\x00b"}, "score_value contains a NUL character"),
        ({"q": "a\x00b"}, "q contains a NUL character"),
        ({"tag": "a\x00b"}, "A tag contains a NUL character"),
        ({"meta": "k=a\x00b"}, "A metadata filter contains a NUL character"),
        ({"cursor": Cursor(value=NOW, id="a\x00b").encode(), "scan": "1"}, "The page link is out of date"),
        ({"sort": "-cost", "cursor": _raw_cursor("NaN")}, "The page link is out of date"),
        ({"sort": "-cost", "cursor": _raw_cursor("1e999999")}, "The page link is out of date"),
    ],
)
def test_bad_parameters_are_shown_never_a_500(
    alice_client: Client, zoo: Tenant, params: dict[str, str], message: str
) -> None:
    response = alice_client.get(_list_url(zoo, **params))

    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="filter-problems"' in body and message in body
    assert _ids(body) == ["t-a", "t-b", "t-c"]  # the bad value is dropped, the rest still applies


def test_active_filters_are_chips_that_remove_themselves(alice_client: Client, zoo: Tenant) -> None:
    body = alice_client.get(_list_url(zoo, name="chat", tag=["prod", "beta"])).content.decode()

    assert "name: chat" in body and "tag: prod" in body and "tag: beta" in body
    assert 'href="?tag=prod&amp;tag=beta"' in body  # removing the name keeps both tags
    assert 'href="?name=chat&amp;tag=beta"' in body


# --- Sorts and keyset pages ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("-time", ["t-a", "t-b", "t-c", "t-old"]),
        ("time", ["t-old", "t-c", "t-b", "t-a"]),
        ("-latency", ["t-c", "t-a", "t-b", "t-old"]),
        ("latency", ["t-old", "t-b", "t-a", "t-c"]),
        ("-cost", ["t-a", "t-b", "t-old", "t-c"]),  # no cost sorts last (then by id, descending)
        ("cost", ["t-c", "t-old", "t-b", "t-a"]),
        ("-tokens", ["t-c", "t-a", "t-b", "t-old"]),
        ("tokens", ["t-old", "t-b", "t-a", "t-c"]),
    ],
)
def test_sorts(alice_client: Client, zoo: Tenant, sort: str, expected: list[str]) -> None:
    assert _ids(alice_client.get(_list_url(zoo, sort=sort, range="all")).content.decode()) == expected


@pytest.mark.parametrize("sort", ["-time", "time", "-latency", "latency", "-cost", "cost", "-tokens", "tokens"])
def test_keyset_pages_walk_every_row_once_in_order_despite_ties(acme: Tenant, sort: str) -> None:
    pid = acme.project.pk
    for n in range(11):  # few distinct values, so most pages start inside a run of ties
        _trace(
            pid,
            f"k{n:02d}",
            latency_ms=(n % 3) * 100,
            usage={"input": n % 2},
            cost=None if n % 4 == 0 else 0.25,
            ago=timedelta(minutes=10 + n % 5),  # equal start times too
        )
    everything = parse_trace_filters(QueryDict(urlencode({"sort": sort})), now=timezone.now())
    expected = [row["id"] for row in selectors.trace_list_page(project_id=pid, filters=everything, size=100).rows]
    seen: list[str] = []
    filters = everything
    while True:
        page = selectors.trace_list_page(project_id=pid, filters=filters, size=3)
        seen += [row["id"] for row in page.rows]
        if page.next_cursor is None:
            break
        filters = parse_trace_filters(
            QueryDict(urlencode({"sort": sort, "cursor": page.next_cursor.encode()})), now=timezone.now()
        )
    assert seen == expected and len(seen) == 11


def test_next_page_link_carries_the_filters(alice_client: Client, acme: Tenant) -> None:
    pid = acme.project.pk
    trace_batch_write(
        project_id=pid,
        traces=[
            TraceIn(id=f"p{n:03d}", timestamp=NOW - timedelta(minutes=n), name="bulk", tags=["x"]) for n in range(55)
        ],
    )
    first = alice_client.get(_list_url(acme, tag="x")).content.decode()
    assert len(_ids(first)) == selectors.TRACE_PAGE_SIZE
    next_href = re.search(r'href="\?([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    assert "tag=x" in next_href and "cursor=" in next_href
    second = alice_client.get(reverse("trace-list", args=[pid]) + "?" + next_href).content.decode()
    assert _ids(second) == [f"p{n:03d}" for n in range(50, 55)]
    assert 'rel="next"' not in second and "First page" in second


def test_the_column_chooser_hides_columns_and_is_kept_in_links(alice_client: Client, zoo: Tenant) -> None:
    default = alice_client.get(_list_url(zoo)).content.decode()
    assert ">Session</th>" not in default and ">Latency" in default and "col=" not in default

    body = alice_client.get(_list_url(zoo, col=["time", "cost"])).content.decode()

    header = body[body.index("<thead>") : body.index("</thead>")]
    assert "Cost" in header and "Latency" not in header and "Scores" not in header
    assert "col=time&amp;col=cost" in body  # sort links keep the choice
    assert "hello world" not in body  # the input/output column is hidden


# --- New traces notice --------------------------------------------------------------------------------------


def test_new_traces_notice_counts_arrivals_that_pass_the_filters(alice_client: Client, zoo: Tenant) -> None:
    since = timezone.now()
    url = reverse("trace-list-new", args=[zoo.project.pk])
    assert (
        'data-testid="new-traces"' not in alice_client.get(url, {"since": since.isoformat()}, **HTMX).content.decode()
    )

    _trace(zoo.project.pk, "fresh", name="chat", ago=timedelta(minutes=1))
    _trace(zoo.project.pk, "fresh-2", name="other", ago=timedelta(minutes=1))

    body = alice_client.get(url, {"since": since.isoformat()}, **HTMX).content.decode()
    assert "2 new traces" in body and 'hx-trigger="every' in body
    body = alice_client.get(url, {"since": since.isoformat(), "name": "chat"}, **HTMX).content.decode()
    assert "1 new trace " in body and "name=chat" in body
    assert alice_client.get(url, {"since": "soon"}).status_code == 400


def test_the_page_polls_for_new_traces_with_its_filters(alice_client: Client, zoo: Tenant) -> None:
    body = alice_client.get(_list_url(zoo, env="staging")).content.decode()

    poll = re.search(r'hx-get="([^"]*traces/new[^"]*)"', body).group(1)
    assert "env=staging" in poll and "since=" in poll


# --- Star and bulk delete -----------------------------------------------------------------------------------


def test_star_toggles_and_the_starred_filter_follows(bob_client: Client, zoo: Tenant) -> None:
    url = reverse("trace-star", args=[zoo.project.pk])

    response = bob_client.post(url, {"trace_id": "t-a", "starred": "1"}, **HTMX)
    assert response.status_code == 200
    assert 'aria-pressed="true"' in response.content.decode()
    assert Trace.objects.get(project_id=zoo.project.pk, id="t-a").bookmarked
    assert _ids(bob_client.get(_list_url(zoo, starred="1")).content.decode()) == ["t-a", "t-c"]

    bob_client.post(url, {"trace_id": "t-a", "starred": "0"}, **HTMX)
    assert not Trace.objects.get(project_id=zoo.project.pk, id="t-a").bookmarked
    assert bob_client.post(url, {"trace_id": "missing", "starred": "1"}).status_code == 404


def test_bulk_delete_asks_first_then_deletes_with_spans_and_scores(bob_client: Client, zoo: Tenant) -> None:
    pid = zoo.project.pk
    url = reverse("trace-bulk-delete", args=[pid])
    back = _list_url(zoo, name="chat")

    confirm = bob_client.post(url, {"trace_id": ["t-a", "t-b"], "next": back})
    assert confirm.status_code == 200 and "Delete 2 traces?" in confirm.content.decode()
    assert Trace.objects.filter(project_id=pid, id__in=["t-a", "t-b"]).count() == 2

    done = bob_client.post(url, {"trace_id": ["t-a", "t-b"], "next": back, "confirmed": "1"}, **HTMX)
    assert done.status_code == 200 and done["HX-Redirect"] == back
    assert not Trace.objects.filter(project_id=pid, id__in=["t-a", "t-b"]).exists()
    assert not Observation.objects.filter(project_id=pid, trace_id__in=["t-a", "t-b"]).exists()
    assert not Score.objects.filter(project_id=pid, trace_id__in=["t-a", "t-b"]).exists()
    assert Trace.objects.filter(project_id=pid, id="t-c").exists()
    followed = bob_client.get(back).content.decode()
    assert "Deleted 2 traces" in followed


def test_bulk_delete_never_redirects_off_the_list(bob_client: Client, zoo: Tenant) -> None:
    url = reverse("trace-bulk-delete", args=[zoo.project.pk])
    response = bob_client.post(url, {"trace_id": "t-a", "confirmed": "1", "next": "https://evil.example/"})

    assert response.status_code == 302 and response.url == reverse("trace-list", args=[zoo.project.pk])


def test_viewers_cannot_delete_or_star(bob_client: Client, bob: Any, zoo: Tenant) -> None:
    Membership.objects.filter(organization=zoo.organization, user=bob).update(role=Role.VIEWER)
    pid = zoo.project.pk

    assert (
        bob_client.post(reverse("trace-bulk-delete", args=[pid]), {"trace_id": "t-a", "confirmed": "1"}).status_code
        == 403
    )
    assert bob_client.post(reverse("trace-star", args=[pid]), {"trace_id": "t-a", "starred": "1"}).status_code == 403
    assert Trace.objects.filter(project_id=pid, id="t-a", bookmarked=False).exists()
    body = bob_client.get(_list_url(zoo)).content.decode()
    assert 'data-testid="bulk-delete"' not in body and "Viewers cannot star traces" in body


# --- Tenancy and query counts -------------------------------------------------------------------------------


def test_outsiders_get_404_and_never_see_another_projects_traces(
    charlie_client: Client, zoo: Tenant, globex: Tenant
) -> None:
    pid = zoo.project.pk
    assert charlie_client.get(_list_url(zoo)).status_code == 404
    assert charlie_client.get(reverse("trace-list-new", args=[pid]), {"since": NOW.isoformat()}).status_code == 404
    assert (
        charlie_client.post(reverse("trace-star", args=[pid]), {"trace_id": "t-a", "starred": "1"}).status_code == 404
    )
    delete = charlie_client.post(reverse("trace-bulk-delete", args=[pid]), {"trace_id": "t-a", "confirmed": "1"})
    assert delete.status_code == 404
    # From his own project, Acme's ids are unknown: no rows, no star, no delete.
    own = globex.project.pk
    assert _ids(charlie_client.get(_list_url(globex, range="all")).content.decode()) == []
    assert (
        charlie_client.post(reverse("trace-star", args=[own]), {"trace_id": "t-a", "starred": "1"}).status_code == 404
    )
    charlie_client.post(reverse("trace-bulk-delete", args=[own]), {"trace_id": "t-a", "confirmed": "1"})
    assert Trace.objects.filter(project_id=pid, id="t-a", bookmarked=False).exists()


def _count_queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_query_count_does_not_grow_with_rows(alice_client: Client, acme: Tenant) -> None:
    pid = acme.project.pk

    def seed(prefix: str, count: int) -> None:
        for n in range(count):
            _trace(
                pid, f"{prefix}{n}", name=prefix, tags=["t"], input=f"hello world {n}", scores=(("q", 0.5),), model="m"
            )
            label = ScoreIn(
                id=f"{prefix}{n}-v", name="v", string_value="ok", data_type="CATEGORICAL", timestamp=NOW,
                trace_id=f"{prefix}{n}",
            )  # fmt: skip
            trace_batch_write(project_id=pid, scores=[label])

    seed("few", 2)
    seed("many", 25)
    _count_queries(alice_client, _list_url(acme))  # the first page view stores the current project in the session
    few = _count_queries(alice_client, _list_url(acme, name="few", model="m", q="world"))
    many = _count_queries(alice_client, _list_url(acme, name="many", model="m", q="world"))
    assert few == many
    few = _count_queries(alice_client, _list_url(acme, name="few"))
    many = _count_queries(alice_client, _list_url(acme, name="many"))
    assert few == many
    few = _count_queries(alice_client, _list_url(acme, name="few", score="v", score_value="ok"))
    many_url = _list_url(acme, name="many", score="v", score_value="ok")
    many = _count_queries(alice_client, many_url)
    assert few == many
    assert len(_ids(alice_client.get(many_url).content.decode())) == 25  # the label filter did select them


def test_the_url_state_round_trips() -> None:
    """What the page writes into links (filters.query) parses back to the same filters."""
    raw = (
        "range=30d&name=chat&user=u+1&session=s%2F1&tag=a&tag=b+c&env=prod&release=v1&model=gpt-4o&level=warning"
        "&errors=1&score=quality&score_value=good+enough&score_min=0.25&score_max=1&cost_min=0.00001&cost_max=2&latency_min=10"
        "&latency_max=2000&meta=region%3Deu&meta=k%3Da%3Db&q=%E6%9D%B1%E4%BA%AC&starred=1&sort=cost&col=time&col=io"
    )
    now = timezone.now()
    filters = parse_trace_filters(QueryDict(raw), now=now)
    assert not filters.problems
    assert filters.meta == (("region", "eu"), ("k", "a=b")) and filters.level == "WARNING"
    assert filters.score_value == "good enough"
    assert parse_trace_filters(QueryDict(filters.query()), now=now) == filters
    custom = parse_trace_filters(QueryDict("from=2026-11-01&to=2026-11-02T10:30Z"), now=now)
    assert parse_trace_filters(QueryDict(custom.query()), now=now) == custom
    assert (custom.start, custom.end) == (custom.date_from, custom.date_to)


def test_sort_links_toggle_direction_and_drop_the_cursor() -> None:
    now = timezone.now()
    first = parse_trace_filters(QueryDict("name=x"), now=now)
    assert first.sort_query("latency") == "name=x&sort=-latency"
    assert first.sort_query("time") == "name=x&sort=time"  # already newest first: flip
    desc = parse_trace_filters(QueryDict(f"sort=-latency&cursor={Cursor(value=5, id='a').encode()}"), now=now)
    assert desc.cursor is not None and desc.sort_query("latency") == "sort=latency"


def test_a_search_that_runs_out_of_time_says_so(alice_client: Client, acme: Tenant, monkeypatch: Any) -> None:
    trace_batch_write(
        project_id=acme.project.pk,
        traces=[
            TraceIn(id=f"slow-{n}", timestamp=NOW - timedelta(minutes=n), input={"text": "lorem ipsum " * 200})
            for n in range(400)
        ],
    )
    monkeypatch.setattr(selectors, "SEARCH_TIMEOUT_MS", 1)  # a 2-letter term has no trigram: every row is read

    response = alice_client.get(_list_url(acme, q="zq"))

    assert response.status_code == 200
    body = response.content.decode()
    assert "took too long" in body and _ids(body) == []
    assert "Send your first trace" not in body


def test_a_search_out_of_its_page_budget_shows_what_it_found_and_searches_further(
    alice_client: Client, acme: Tenant, monkeypatch: Any
) -> None:
    """No page budget: each page reads one walk step, shows its matches, says the search goes on and links to
    the next stretch; following the links finds every match once, newest first."""
    trace_batch_write(
        project_id=acme.project.pk,
        traces=[
            TraceIn(
                id=f"p-{n:02d}", timestamp=NOW - timedelta(minutes=n), input={"text": f"row {n} wombat" * (n % 4 == 0)}
            )
            for n in range(30)
        ],
    )
    monkeypatch.setattr(selectors, "SEARCH_WALK_STEPS", (10, 20))
    monkeypatch.setattr(selectors, "SEARCH_PAGE_BUDGET_S", 0)
    url = _list_url(acme, q="wombat")
    found: list[str] = []
    partial_pages = 0
    for _ in range(5):
        body = alice_client.get(url).content.decode()
        found += _ids(body)
        if 'data-testid="search-partial"' not in body:
            break  # a stretch reached the end of the range
        partial_pages += 1
        assert "10 traces read in this step" in body and "so far" in body
        further = re.search(r'href="\?([^"]+)"[^>]*data-testid="search-further"', body)
        # No index query was tried (no budget left for it), so the next page tries it: no scan=1.
        assert further is not None and "cursor=" in further.group(1) and "scan=1" not in further.group(1)
        url = reverse("trace-list", args=[acme.project.pk]) + "?" + html.unescape(further.group(1))
    assert partial_pages >= 3 and 'data-testid="search-partial"' not in body
    assert found == [f"p-{n:02d}" for n in range(0, 30, 4)]


def test_filter_inputs_suggest_recent_values(alice_client: Client, zoo: Tenant) -> None:
    from traces.models import ScoreConfig

    categories = [{"label": "correct", "value": 1}, {"label": "wrong", "value": 0}]
    ScoreConfig.objects.create(project=zoo.project, name="verdict", data_type="CATEGORICAL", categories=categories)
    ScoreConfig.objects.create(project=zoo.project, name="helpful", data_type="BOOLEAN")
    ScoreConfig.objects.create(project=zoo.project, name="retired", data_type="CATEGORICAL", is_archived=True,
                               categories=[{"label": "stale", "value": 0}])  # fmt: skip
    body = alice_client.get(_list_url(zoo)).content.decode()

    assert 'name="score_value" value="" placeholder="label, e.g. correct or True"' in body
    assert 'list="suggest-score_value"' in body and 'list="suggest-score"' in body
    for key, values in (
        ("name", ["chat", "search"]),
        ("env", ["staging"]),
        ("model", ["claude-3", "gpt-4o-mini"]),
        ("score", ["helpful", "verdict"]),
        ("score_value", ["False", "True", "correct", "wrong"]),
    ):
        listed = re.search(rf'<datalist id="suggest-{key}">(.*?)</datalist>', body).group(1)
        assert all(f'<option value="{value}">' in listed for value in values), (key, listed)
        if key.startswith("score"):  # exactly the live configs' names and labels
            assert listed.count("<option") == len(values), (key, listed)
