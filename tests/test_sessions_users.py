"""Sessions and users pages: stats, keyset pages, the session replay, the user page, tenancy, query counts.

Data goes in through the ingestion write step (`trace_batch_write`), as the SDKs' data does.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.conftest import Tenant
from traces import selectors
from traces.services import ObservationIn, ScoreIn, TraceIn, trace_batch_write

pytestmark = pytest.mark.django_db


def _t0() -> datetime:
    return timezone.now().replace(microsecond=0) - timedelta(hours=3)


def _trace(
    pid: int, tid: str, at: datetime, *, session: str | None, user: str | None, cost: float = 0.5, **extra: Any
) -> None:
    """One trace with one generation that costs `cost` and uses 10 + 5 tokens."""
    generation = {k: extra.pop(k) for k in ("gen_input", "gen_output") if k in extra}
    trace_batch_write(
        project_id=pid,
        traces=[TraceIn(id=tid, timestamp=at, name=f"turn {tid}", session_id=session, user_id=user, **extra)],
        observations=[
            ObservationIn(
                id=f"{tid}-g",
                trace_id=tid,
                type="GENERATION",
                start_time=at,
                end_time=at + timedelta(seconds=2),
                usage={"input": 10, "output": 5},
                cost={"total": cost},
                input=generation.get("gen_input"),
                output=generation.get("gen_output"),
            )
        ],
    )


def _seed_conversation(pid: int) -> datetime:
    """Session chat-1: three turns by u1, u1, u2 (written out of order), feedback and scores; chat-2 a day
    later; a trace by u3 without a session."""
    t0 = _t0()
    system = {"role": "system", "content": "You are a SECRET-SYSTEM-PROMPT helper."}
    _trace(
        pid, "t3", t0 + timedelta(minutes=2), session="chat-1", user="u2",
        gen_input=[system, {"role": "user", "content": "Bye for now"}],
        gen_output={"role": "assistant", "content": "Goodbye, take care"},
    )  # fmt: skip
    _trace(
        pid, "t1", t0, session="chat-1", user="u1",
        input=[system, {"role": "user", "content": "Hello there"}],
        output={"role": "assistant", "content": "Hi! How can I help?"},
    )  # fmt: skip
    _trace(
        pid, "t2", t0 + timedelta(minutes=1), session="chat-1", user="u1",
        input={"messages": [
            system,
            {"role": "user", "content": "Hello there"},
            {"role": "assistant", "content": "Hi! How can I help?"},
            {"role": "user", "content": "What is 2+2?"},
        ]},
        output="It is 4.",
    )  # fmt: skip
    _trace(pid, "t4", t0 + timedelta(minutes=30), session="chat-2", user="u1", input="plain question", output="plain")
    _trace(pid, "t5", t0 + timedelta(minutes=40), session=None, user="u3", input="no session", output="ok")
    trace_batch_write(
        project_id=pid,
        scores=[
            ScoreIn(id="f1", name="user-feedback", value=1.0, source="FEEDBACK", timestamp=t0, trace_id="t1"),
            ScoreIn(
                id="f2", name="user-feedback", value=0.0, source="FEEDBACK", timestamp=t0, trace_id="t2",
                comment="wrong tone",
            ),
            ScoreIn(id="q1", name="quality", value=0.8, timestamp=t0, trace_id="t2"),
            ScoreIn(id="r1", name="resolved", value=1.0, timestamp=t0, session_id="chat-1"),
            ScoreIn(id="f3", name="user-feedback", value=1.0, source="FEEDBACK", timestamp=t0, trace_id="t4"),
        ],
    )  # fmt: skip
    return t0


def _get(client: Client, name: str, *args: Any, **params: Any) -> Any:
    return client.get(reverse(name, args=args), params)


# --- Lists ------------------------------------------------------------------------------------------


def test_session_list_stats(alice_client: Client, acme: Tenant) -> None:
    t0 = _seed_conversation(acme.project.pk)
    response = _get(alice_client, "session-list", acme.project.pk, range="all")

    assert response.status_code == 200
    rows = response.context["page"].rows
    assert [r.id for r in rows] == ["chat-2", "chat-1"]  # latest activity first
    chat = rows[1]
    assert (chat.traces, chat.users, chat.tokens, chat.errors) == (3, 2, 45, 0)
    assert chat.cost == Decimal("1.5")
    assert chat.first == t0 and chat.last == t0 + timedelta(minutes=2)
    assert chat.duration_ms == 122_000  # first trace start → last generation end
    assert (chat.scores.thumbs_up, chat.scores.thumbs_down) == (1, 1)
    assert chat.scores.averages == (("quality", 0.8, 1), ("resolved", 1.0, 1))
    body = response.content.decode()
    assert reverse("session-detail", args=[acme.project.pk, "chat-1"]) in body
    assert "$1.5000" in body and "2m 2s" in body


def test_user_list_stats_and_feedback_ratio(alice_client: Client, acme: Tenant) -> None:
    _seed_conversation(acme.project.pk)
    response = _get(alice_client, "user-list", acme.project.pk, range="all", sort="id")

    rows = {r.id: r for r in response.context["page"].rows}
    assert list(rows) == ["u1", "u2", "u3"]
    u1 = rows["u1"]
    assert (u1.traces, u1.sessions, u1.tokens, u1.cost) == (3, 2, 45, Decimal("1.5"))
    assert u1.scores.feedback_ratio == pytest.approx(2 / 3)
    assert rows["u3"].sessions == 0 and rows["u3"].scores.feedback_ratio is None
    body = response.content.decode()
    assert "67%" in body and "2 thumbs up, 1 thumbs down" in body
    assert reverse("user-detail", args=[acme.project.pk, "u1"]) in body
    # First and last seen: u1's first trace (t1, at t0) and last (t4, 30 minutes later), as machine-readable times.
    t0 = timezone.localtime(_t0())
    row = re.search(r"<tr>\s*<td class=\"people-id\"><a href=\"[^\"]*/user/u1\">.*?</tr>", body, re.S).group(0)
    first, last = re.findall(r'<time datetime="([^"]+)" title="[^"]+">([^<]+)</time>', row)
    assert first == (t0.isoformat(), f"{t0:%b} {t0.day}, {t0:%H:%M}")
    assert last[0] == (t0 + timedelta(minutes=30)).isoformat() and last[1].replace("\xa0", " ") == "2 hours ago"


def test_time_range_and_prefix_search(alice_client: Client, acme: Tenant) -> None:
    pid = acme.project.pk
    _seed_conversation(pid)
    _trace(pid, "old", timezone.now() - timedelta(days=20), session="chat-old", user="u-old")

    week = _get(alice_client, "session-list", pid)  # the default range is the last 7 days
    assert [r.id for r in week.context["page"].rows] == ["chat-2", "chat-1"]
    everything = _get(alice_client, "session-list", pid, range="all")
    assert [r.id for r in everything.context["page"].rows] == ["chat-2", "chat-1", "chat-old"]
    custom = _get(
        alice_client, "session-list", pid,
        **{"from": (timezone.now() - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M"),
           "to": (timezone.now() - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")},
    )  # fmt: skip
    assert [r.id for r in custom.context["page"].rows] == ["chat-old"]

    search = _get(alice_client, "session-list", pid, range="all", q="chat-")
    assert [r.id for r in search.context["page"].rows] == ["chat-2", "chat-1", "chat-old"]
    assert [r.id for r in _get(alice_client, "session-list", pid, q="chat-o").context["page"].rows] == []
    assert "No sessions match" in _get(alice_client, "session-list", pid, q="chat-o").content.decode()
    users = _get(alice_client, "user-list", pid, range="all", q="u-")
    assert [r.id for r in users.context["page"].rows] == ["u-old"]


def test_bad_parameters_are_explained_not_fatal(alice_client: Client, acme: Tenant) -> None:
    _seed_conversation(acme.project.pk)
    response = _get(alice_client, "session-list", acme.project.pk, range="3y", sort="cost", cursor="%%garbage")
    assert response.status_code == 200
    problems = " ".join(response.context["state"].problems)
    assert "3y" in problems and "cost" in problems
    assert [r.id for r in response.context["page"].rows] == ["chat-2", "chat-1"]


@pytest.mark.parametrize("sort", ["-time", "time", "id"])
@pytest.mark.parametrize("search", ["", "s"])
def test_keyset_pages_cover_every_session_once_in_order(
    acme: Tenant, monkeypatch: pytest.MonkeyPatch, sort: str, search: str
) -> None:
    """Sessions with interleaved traces and tied timestamps, read two at a time with a scan batch of three
    traces: every session appears exactly once, in the order of its latest (earliest) activity."""
    monkeypatch.setattr(selectors, "_SCAN_BATCH", 3)
    pid = acme.project.pk
    t0 = _t0()
    minutes = {"s1": [0, 9], "s2": [1, 2, 3, 4], "s3": [5], "s4": [5], "s5": [6, 7, 1], "s6": [8], "x7": [3]}
    for sid, offsets in minutes.items():
        for n, offset in enumerate(offsets):
            _trace(pid, f"{sid}-{n}", t0 + timedelta(minutes=offset), session=sid, user=None)
    expected = {
        "-time": sorted(minutes, key=lambda s: (max(minutes[s]), s), reverse=True),
        "time": sorted(minutes, key=lambda s: (min(minutes[s]), s)),
        "id": sorted(minutes),
    }[sort]
    expected = [s for s in expected if s.startswith(search)]

    seen: list[str] = []
    cursor = None
    for _ in range(10):
        page = selectors.session_list_page(
            project_id=pid, since=None, until=None, search=search, sort=sort, cursor=cursor, limit=2
        )
        seen += [row.id for row in page.rows]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == expected


# --- Session replay ---------------------------------------------------------------------------------


def test_session_replay_is_the_conversation_in_time_order(alice_client: Client, acme: Tenant) -> None:
    pid = acme.project.pk
    _seed_conversation(pid)
    response = _get(alice_client, "session-detail", pid, "chat-1")

    assert response.status_code == 200
    body = response.content.decode()
    transcript = body[body.index('data-testid="transcript"') :]
    said = ["Hello there", "Hi! How can I help?", "What is 2+2?", "It is 4.", "Bye for now", "Goodbye, take care"]
    positions = [transcript.index(text) for text in said]
    assert positions == sorted(positions)
    # The history a chat call repeats is not shown again, nor is the system prompt.
    assert transcript.count("Hello there") == 1 and transcript.count("Hi! How can I help?") == 1
    assert "SECRET-SYSTEM-PROMPT" not in transcript
    for tid in ("t1", "t2", "t3"):
        assert reverse("trace-detail", args=[pid, tid]) in transcript
    assert transcript.count('data-testid="feedback"') == 2
    assert transcript.index('class="thumb thumb-up"') < transcript.index('class="thumb thumb-down"')
    assert "wrong tone" in transcript and "quality: 0.8" in transcript
    assert f"{reverse('score-panel', args=[pid])}?session_id=chat-1" in body
    # Every turn states its own latency (its generation ran 2 s) and cost, in that turn.
    turns = re.findall(r'<li class="turn[^"]*" id="turn-\d+" data-trace-id="([^"]+)">(.*?)</li>', transcript, re.S)
    assert [tid for tid, _ in turns] == ["t1", "t2", "t3"]
    for _, turn in turns:
        assert 'data-testid="turn-latency">2.00s</span>' in turn and 'data-testid="turn-cost">$0.5000</span>' in turn
    assert '<code id="session-id">chat-1</code>' in body
    assert 'data-copy-target="#session-id" aria-label="Copy session id"' in body
    assert 'data-testid="session-cost">$1.5000<' in body and 'data-testid="session-traces">3<' in body


def test_session_replay_pages_turns_with_a_cursor(alice_client: Client, acme: Tenant) -> None:
    pid = acme.project.pk
    t0 = _t0()
    for n in range(5):
        _trace(pid, f"p{n}", t0 + timedelta(seconds=n), session="long", user=None, input=f"question {n}")
    turns, cursor = selectors.session_turns(project_id=pid, session_id="long", limit=3)
    assert [t.trace.id for t in turns] == ["p0", "p1", "p2"] and cursor
    response = _get(alice_client, "session-detail", pid, "long", cursor=cursor)
    assert [v.turn.trace.id for v in response.context["turns"]] == ["p3", "p4"]


def test_session_replay_shapes(acme: Tenant) -> None:
    from traces.views_sessions import assistant_side, user_side

    assert user_side("hi") == [{"role": "user", "content": "hi"}]
    assert user_side({"question": "why?"}) == [{"role": "user", "content": "why?"}]
    assert user_side({"a": 1, "b": 2}) == {"a": 1, "b": 2}  # other JSON stays JSON (rendered as a tree)
    assert user_side('[{"role": "user", "content": "as a string"}]') == [{"role": "user", "content": "as a string"}]
    completion = {"choices": [{"message": {"role": "assistant", "content": "from choices"}}]}
    assert assistant_side(completion) == [{"role": "assistant", "content": "from choices"}]
    assert assistant_side({"answer": "42"}) == [{"role": "assistant", "content": "42"}]
    tool = [{"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]}]
    assert assistant_side(tool) == tool


def test_hostile_content_is_escaped(alice_client: Client, acme: Tenant) -> None:
    pid = acme.project.pk
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    _trace(pid, "evil", _t0(), session=evil, user=evil, input=evil, output=f"[click](javascript:alert(1)) {evil}")
    for name in ("session-list", "user-list"):
        body = _get(alice_client, name, pid, range="all").content.decode()
        assert "<script>alert" not in body and "<img src=x" not in body
        assert "&lt;script&gt;" in body
    for name in ("session-detail", "user-detail"):
        response = _get(alice_client, name, pid, evil)
        assert response.status_code == 200
        body = response.content.decode()
        assert "<script>alert" not in body and "<img src=x" not in body and 'href="javascript:' not in body
        assert "&lt;script&gt;" in body


def test_unknown_ids_are_404_with_what_to_check(
    alice_client: Client, charlie_client: Client, acme: Tenant, globex: Tenant
) -> None:
    pid = acme.project.pk
    _seed_conversation(pid)
    _trace(globex.project.pk, "g1", _t0(), session="globex-chat", user="globex-user")
    for name, ident, title, field, back, back_name in [
        ("session-detail", "nope", "No such session", "session id", "Back to sessions", "session-list"),
        ("session-detail", "globex-chat", "No such session", "session id", "Back to sessions", "session-list"),
        ("user-detail", "nobody", "No such user", "user id", "Back to users", "user-list"),
        ("user-detail", "globex-user", "No such user", "user id", "Back to users", "user-list"),
    ]:
        response = _get(alice_client, name, pid, ident)
        assert response.status_code == 404
        body = response.content.decode()
        assert f"<h1>{title}</h1>" in body
        assert f"No trace names the {field} <code>{ident}</code> in project <strong>Support bot</strong>" in body
        assert "flushed" in body and "deleted" in body  # what to check
        assert f'href="{reverse(back_name, args=[pid])}" data-testid="missing-back">{back}</a>' in body
        assert "globex" not in body.replace(ident, "")  # nothing about the other project beyond the id asked for
    # charlie is no member of acme: the generic page, which names neither the project nor the id.
    outsider = _get(charlie_client, "session-detail", pid, "chat-1").content.decode()
    assert "This page doesn't exist" in outsider and "chat-1" not in outsider and "Support bot" not in outsider


def test_tenancy_charlie_gets_404(charlie_client: Client, bob_client: Client, acme: Tenant, globex: Tenant) -> None:
    _seed_conversation(acme.project.pk)
    for name, args in [
        ("session-list", ()),
        ("user-list", ()),
        ("session-detail", ("chat-1",)),
        ("user-detail", ("u1",)),
    ]:
        assert _get(charlie_client, name, acme.project.pk, *args).status_code == 404
        assert _get(bob_client, name, acme.project.pk, *args).status_code == 200  # a member reads
    # charlie's own project does not have acme's sessions or users.
    assert _get(charlie_client, "session-detail", globex.project.pk, "chat-1").status_code == 404
    assert _get(charlie_client, "user-detail", globex.project.pk, "u1").status_code == 404
    assert _get(charlie_client, "session-list", globex.project.pk, range="all").context["page"].rows == []


# --- User page --------------------------------------------------------------------------------------


def test_user_page_totals_sessions_traces_and_chart(alice_client: Client, acme: Tenant) -> None:
    pid = acme.project.pk
    t0 = _seed_conversation(pid)
    _trace(pid, "t0-yesterday", t0 - timedelta(days=1), session=None, user="u1", cost=0.25)
    response = _get(alice_client, "user-detail", pid, "u1")

    assert response.status_code == 200
    person = response.context["person"]
    assert (person.traces, person.sessions, person.cost) == (4, 2, Decimal("1.75"))
    assert [s["session_id"] for s in response.context["sessions"]] == ["chat-2", "chat-1"]
    assert [t["trace"].id for t in response.context["traces"]] == ["t4", "t2", "t1", "t0-yesterday"]
    body = response.content.decode()
    payload = json.loads(re.search(r'<script id="user-usage-data" type="application/json">(.*?)</script>', body)[1])
    assert payload["days"] == sorted(
        {(t0 - timedelta(days=1)).date().isoformat(), t0.date().isoformat()}
        | ({(t0 + timedelta(minutes=30)).date().isoformat()})
    )
    assert sum(payload["traces"]) == 4 and sum(payload["cost"]) == pytest.approx(1.75)
    assert "vendor/plotly.min.js" in body and "people.js" in body
    assert '<code id="user-id">u1</code>' in body and 'data-copy-target="#user-id" aria-label="Copy user id"' in body
    assert 'data-testid="user-cost">$1.7500<' in body
    assert reverse("session-detail", args=[pid, "chat-2"]) in body
    assert reverse("trace-detail", args=[pid, "t4"]) in body


def test_user_traces_keyset_pages(alice_client: Client, acme: Tenant) -> None:
    pid = acme.project.pk
    t0 = _t0()
    for n in range(selectors.USER_TRACES_PAGE_SIZE + 3):
        _trace(pid, f"ut{n:02}", t0 + timedelta(seconds=n % 7), session=None, user="busy")  # many share a time
    first = _get(alice_client, "user-detail", pid, "busy")
    ids = [t["trace"].id for t in first.context["traces"]]
    cursor = re.search(r'href="\?cursor=([^"#]+)#user-traces"', first.content.decode())[1]
    second = _get(alice_client, "user-detail", pid, "busy", cursor=cursor)
    ids += [t["trace"].id for t in second.context["traces"]]
    assert len(ids) == len(set(ids)) == selectors.USER_TRACES_PAGE_SIZE + 3


# --- Empty states, htmx ------------------------------------------------------------------------------


def test_empty_states_teach(alice_client: Client, acme: Tenant) -> None:
    sessions = _get(alice_client, "session-list", acme.project.pk).content.decode()
    assert "No sessions yet" in sessions and "langfuse.session.id" in sessions and "sessionId" in sessions
    assert acme.public_key in sessions  # the send-your-first-trace steps name the project's key
    users = _get(alice_client, "user-list", acme.project.pk).content.decode()
    assert "No users yet" in users and "user_id" in users and "userId" in users


def test_filter_bar_gets_the_results_fragment(alice_client: Client, acme: Tenant) -> None:
    _seed_conversation(acme.project.pk)
    response = alice_client.get(
        reverse("session-list", args=[acme.project.pk]),
        {"range": "all", "q": "chat-1"},
        headers={"HX-Request": "true", "HX-Target": "results"},
    )
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="results"') and "<html" not in body
    assert "chat-1" in body and "chat-2" not in body


# --- Queries per page --------------------------------------------------------------------------------


def _queries(client: Client, name: str, *args: Any, **params: Any) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert _get(client, name, *args, **params).status_code == 200
    return len(captured)


def test_query_counts_do_not_grow_with_rows(alice_client: Client, acme: Tenant) -> None:
    pid = acme.project.pk
    t0 = _t0()

    def add(sessions: range) -> None:
        for n in sessions:
            _trace(pid, f"a{n}", t0 + timedelta(seconds=n), session=f"s{n:03}", user=f"u{n:03}", input="q")
            _trace(pid, f"b{n}", t0 + timedelta(seconds=n, milliseconds=5), session=f"s{n:03}", user=f"u{n:03}")
            trace_batch_write(
                project_id=pid,
                scores=[ScoreIn(id=f"f{n}", name="fb", value=1.0, source="FEEDBACK", timestamp=t0, trace_id=f"a{n}")],
            )

    def counts() -> list[int]:
        return [
            _queries(alice_client, "session-list", pid),
            _queries(alice_client, "session-list", pid, q="s0"),
            _queries(alice_client, "session-list", pid, sort="id"),
            _queries(alice_client, "user-list", pid),
            _queries(alice_client, "user-list", pid, sort="time"),
            _queries(alice_client, "session-detail", pid, "s000"),
            _queries(alice_client, "user-detail", pid, "u000"),
        ]

    add(range(2))
    counts()  # the first page view stores the current project in the session
    few = counts()
    add(range(2, 14))
    for n in range(12):  # a long session and a busy user
        _trace(pid, f"c{n}", t0 + timedelta(minutes=5, seconds=n), session="s000", user="u000", output=f"a{n}")
    assert counts() == few
