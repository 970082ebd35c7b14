"""Sessions and users: lists, the session replay (one chat transcript across a session's traces) and the
user page (totals, sessions, traces, cost per day).

Views parse the URL (every state is a query parameter: `range`/`from`/`to` as on the trace list, `q` an id
prefix, `sort`, `cursor`), call selectors and render; htmx requests from the filter bar get the results
fragment only. The time window is parsed by the trace list's own parser, so both pages read the same URLs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from projects.auth import project_view
from projects.views import first_trace_context
from traces import render as content
from traces import selectors
from traces.filters import DEFAULT_RANGE, RANGE_LABELS, parse_trace_filters
from traces.views_trace import missing_page

SORT_LABELS = {
    "-time": "Latest activity first",
    "time": "Earliest start first",
    "id": "Id (A→Z)",
}
SEARCH_MAX = 500
# Message roles that belong to the assistant's side of a turn.
_REPLY_ROLES = {"assistant", "model", "ai", "bot", "tool", "function"}
_SETUP_ROLES = {"system", "developer"}
# Keys under which a plain-JSON input/output commonly keeps its text.
_INPUT_TEXT_KEYS = ("input", "query", "question", "prompt", "message", "text", "content")
_OUTPUT_TEXT_KEYS = ("output", "answer", "response", "completion", "text", "content", "result")


@dataclass(frozen=True)
class ListState:
    """A list page's URL state, parsed; `problems` are shown above the results."""

    range: str
    date_from: str
    date_to: str
    since: Any
    until: Any
    search: str
    sort: str
    cursor: str | None
    problems: tuple[str, ...]

    def query(self, **changes: str | None) -> str:
        """The page's query string with some parameters changed (None drops one); defaults left out."""
        state = {
            "range": self.range if self.range != DEFAULT_RANGE and not (self.date_from or self.date_to) else "",
            "from": self.date_from,
            "to": self.date_to,
            "q": self.search,
            "sort": self.sort if self.sort != "-time" else "",
            "cursor": self.cursor or "",
        }
        state.update({key: value or "" for key, value in changes.items()})
        return urlencode({key: value for key, value in state.items() if value})


def _list_state(request: HttpRequest) -> ListState:
    window = QueryDict(mutable=True)
    for key in ("range", "from", "to"):
        if request.GET.get(key):
            window[key] = request.GET[key]
    parsed = parse_trace_filters(window, now=timezone.now())
    problems = list(parsed.problems)
    search = (request.GET.get("q") or "").strip()
    if len(search) > SEARCH_MAX:
        problems.append(f"The search is longer than {SEARCH_MAX} characters; it was ignored.")
        search = ""
    sort = request.GET.get("sort") or "-time"
    if sort not in selectors.PEOPLE_SORTS:
        problems.append(f"Cannot sort by “{sort[:20]}”; sorted by latest activity.")
        sort = "-time"
    return ListState(
        range=parsed.range,
        date_from=(request.GET.get("from") or "").strip() if parsed.date_from else "",
        date_to=(request.GET.get("to") or "").strip() if parsed.date_to else "",
        since=parsed.start,
        until=parsed.end,
        search=search,
        sort=sort,
        cursor=request.GET.get("cursor") or None,
        problems=tuple(problems),
    )


def _list_page(request: HttpRequest, *, template: str, section: str, page_of: Any, has_any: Any) -> HttpResponse:
    project = request.project  # type: ignore[attr-defined]
    state = _list_state(request)
    page = page_of(
        project_id=project.pk,
        since=state.since,
        until=state.until,
        search=state.search,
        sort=state.sort,
        cursor=state.cursor,
    )
    context: dict[str, Any] = {
        "section": section,
        "state": state,
        "page": page,
        "rows": [
            {
                "row": row,
                "cost": content.cost_text(row.cost),
                "duration": content.duration_text(getattr(row, "duration_ms", None)),
            }
            for row in page.rows
        ],
        "range_labels": RANGE_LABELS,
        "sort_labels": SORT_LABELS,
        "next_query": state.query(cursor=page.next_cursor) if page.next_cursor else "",
        "first_query": state.query(cursor=None),
    }
    if not page.rows and not state.cursor:
        context["has_any"] = has_any(project_id=project.pk)
        if not context["has_any"]:
            context.update(first_trace_context(request))  # type: ignore[arg-type]
    if getattr(request, "htmx", False) and request.headers.get("HX-Target") == "results":
        return render(request, f"{template}#results", context)
    return render(request, template, context)


@project_view()
@require_GET
def session_list(request: HttpRequest) -> HttpResponse:
    return _list_page(
        request,
        template="sessions/list.html",
        section="sessions",
        page_of=selectors.session_list_page,
        has_any=selectors.project_has_sessions,
    )


@project_view()
@require_GET
def user_list(request: HttpRequest) -> HttpResponse:
    return _list_page(
        request,
        template="users/list.html",
        section="users",
        page_of=selectors.user_list_page,
        has_any=selectors.project_has_users,
    )


# --- Session replay ---------------------------------------------------------------------------------


def _text_field(value: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        if isinstance(value.get(key), str):
            return value[key]
    return None


def user_side(value: Any) -> Any:
    """What the user sent in this turn, as chat messages where possible. A chat call's input repeats the
    whole history, so the turn is what follows the last reply (system prompts left out)."""
    value = content.parse_json_string(value)
    found = content.chat_messages(value)
    if found is not None:
        messages = found[0]
        last_reply = max(
            (i for i, m in enumerate(messages) if str(m.get("role")).lower() in _REPLY_ROLES - {"tool", "function"}),
            default=-1,
        )
        turn = [m for m in messages[last_reply + 1 :] if str(m.get("role")).lower() not in _SETUP_ROLES]
        return turn or messages[-1:]
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if isinstance(value, dict) and (text := _text_field(value, _INPUT_TEXT_KEYS)) is not None and len(value) == 1:
        return [{"role": "user", "content": text}]
    return value


def assistant_side(value: Any) -> Any:
    """The answer: an OpenAI completion's first choice, the replies of a message list, a string, or JSON."""
    value = content.parse_json_string(value)
    if isinstance(value, dict) and isinstance(value.get("choices"), list) and value["choices"]:
        choice = value["choices"][0]
        if isinstance(choice, dict):
            value = choice.get("message") or choice.get("text") or choice
    found = content.chat_messages(value)
    if found is not None:
        replies = [m for m in found[0] if str(m.get("role")).lower() in _REPLY_ROLES]
        return replies or found[0]
    if isinstance(value, str):
        return [{"role": "assistant", "content": value}]
    if isinstance(value, dict) and (text := _text_field(value, _OUTPUT_TEXT_KEYS)) is not None and len(value) == 1:
        return [{"role": "assistant", "content": text}]
    return value


@dataclass(frozen=True)
class TurnView:
    turn: selectors.Turn
    user_html: str  # already escaped / sanitised by traces.render
    assistant_html: str
    latency: str
    cost: str


def _turn_view(turn: selectors.Turn) -> TurnView:
    return TurnView(
        turn=turn,
        user_html=content.render_value(user_side(turn.input)) if turn.input is not None else "",
        assistant_html=content.render_value(assistant_side(turn.output)) if turn.output is not None else "",
        latency=content.duration_text(turn.trace.latency_ms),
        cost=content.cost_text(turn.trace.total_cost),
    )


@project_view()
@require_GET
def session_detail(request: HttpRequest, session_id: str) -> HttpResponse:
    project = request.project  # type: ignore[attr-defined]
    overview = selectors.session_overview(project_id=project.pk, session_id=session_id)
    if overview is None:
        return missing_page(request, kind="session", ident=session_id)
    cursor = request.GET.get("cursor") or None
    turns, next_cursor = selectors.session_turns(project_id=project.pk, session_id=session_id, cursor=cursor)
    context = {
        "section": "sessions",
        "session": overview,
        "duration": content.duration_text(overview.duration_ms),
        "cost": content.cost_text(overview.cost),
        "turns": [_turn_view(turn) for turn in turns],
        "cursor": cursor,
        "next_query": urlencode({"cursor": next_cursor}) if next_cursor else "",
        "panel_query": urlencode({"session_id": session_id}),
    }
    return render(request, "sessions/detail.html", context)


# --- User page --------------------------------------------------------------------------------------


@project_view()
@require_GET
def user_detail(request: HttpRequest, user_id: str) -> HttpResponse:
    project = request.project  # type: ignore[attr-defined]
    overview = selectors.user_overview(project_id=project.pk, user_id=user_id)
    if overview is None:
        return missing_page(request, kind="user", ident=user_id)
    cursor = request.GET.get("cursor") or None
    traces, next_cursor = selectors.user_traces_page(project_id=project.pk, user_id=user_id, cursor=cursor)
    days = selectors.user_daily_usage(project_id=project.pk, user_id=user_id)
    chart = {
        "days": [row["day"].isoformat() for row in days],
        "cost": [float(row["cost"] or 0) for row in days],
        "traces": [row["traces"] for row in days],
    }
    context = {
        "section": "users",
        "person": overview,
        "cost": content.cost_text(overview.cost),
        "sessions": [
            {**row, "cost_text": content.cost_text(row["cost"])}
            for row in selectors.user_sessions(project_id=project.pk, user_id=user_id)
        ],
        "traces": [
            {"trace": t, "latency": content.duration_text(t.latency_ms), "cost": content.cost_text(t.total_cost)}
            for t in traces
        ],
        "cursor": cursor,
        "next_query": urlencode({"cursor": next_cursor}) if next_cursor else "",
        "chart": chart,
    }
    return render(request, "users/detail.html", context)
