"""The trace detail page: header, span tree beside a waterfall timeline, and the span panel.

The page itself never carries span bodies: its rows hold ids, names, types, times, costs and levels.
The selected span's input, output and metadata come with the page only for the span named in
`?observation=`; every other span's body is fetched on demand from `observation-body`, which answers
htmx with the `span-panel` fragment (and anyone else with a redirect to the page showing that span).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from projects.auth import project_view
from projects.views import ProjectRequest
from traces import render as shapes
from traces import selectors
from traces.models import Observation, Trace

PANEL = "traces/detail.html#span-panel"
# "Open in playground" carries a generation's whole input in a hidden field. Up to this size (of its JSON) the
# form comes with the span panel, one click away; above it the panel has a button that fetches the form first,
# so a megabyte input is not sent twice with every look at the span (bench/README.md: 2 MB for a 1 MB input).
PLAYGROUND_INLINE_MAX_CHARS = 64_000

# What the 404 page says when a trace, session or user id names nothing in the project. The same words
# whatever other projects hold, so the page never tells whether the id exists elsewhere.
_MISSING = {
    "trace": {
        "title": "No such trace",
        "what": "No trace with id",
        "hint": (
            "It may not have been ingested yet. Ingestion is synchronous: a trace is stored before the SDK's "
            "request is answered, so check that the SDK flushed or exported (short scripts must call flush() or "
            "shutdown() before they exit) and that its API key belongs to this project. Or the trace was deleted."
        ),
        "list": "trace-list",
        "back": "Back to traces",
    },
    "session": {
        "title": "No such session",
        "what": "No trace names the session id",
        "hint": (
            "A session appears with its first trace. Check that your traces set this session id (sessionId in the "
            "Langfuse SDKs, langfuse.session.id or session.id on OpenTelemetry spans), that the SDK flushed, and "
            "that its API key belongs to this project. Or the session's traces were deleted."
        ),
        "list": "session-list",
        "back": "Back to sessions",
    },
    "user": {
        "title": "No such user",
        "what": "No trace names the user id",
        "hint": (
            "A user appears with their first trace. Check that your traces set this user id (userId in the Langfuse "
            "SDKs, langfuse.user.id or user.id on OpenTelemetry spans), that the SDK flushed, and that its API key "
            "belongs to this project. Or their traces were deleted."
        ),
        "list": "user-list",
        "back": "Back to users",
    },
}


def missing_page(request: HttpRequest, *, kind: str, ident: str) -> HttpResponse:
    """The 404 page for an id that names no trace, session or user in this project, with what to check and a
    link back to the list (other 404s keep the generic page of `handler404`)."""
    project = request.project  # type: ignore[attr-defined]
    words = _MISSING[kind]
    context = {
        "missing": {
            **words,
            "kind": kind,
            "ident": ident,
            "project": project,
            "back_url": reverse(words["list"], args=[project.pk]),
        }
    }
    return render(request, "404.html", context, status=404)


def _trace_or_404(project_id: int, trace_id: str) -> Trace:
    trace = selectors.trace_get(project_id=project_id, trace_id=trace_id)
    if trace is None:
        raise Http404("No trace with this id in this project")
    return trace


def _playground_mode(observation: Observation) -> str | None:
    """How the span panel offers "Open in playground": with the form ("inline"), a button that fetches it
    ("lazy"), or not at all (only generations with an input can be replayed)."""
    if observation.type != "GENERATION" or observation.input is None:
        return None
    return "inline" if len(orjson.dumps(observation.input)) <= PLAYGROUND_INLINE_MAX_CHARS else "lazy"


def _observation_panel(project_id: int, trace: Trace, observation: Observation) -> dict[str, Any]:
    price = selectors.observation_price(project_id=project_id, observation=observation)
    return {
        "kind": "observation",
        "observation": observation,
        "duration": shapes.duration_text(shapes.millis(observation.start_time, observation.end_time)),
        "ttft": shapes.duration_text(shapes.millis(observation.start_time, observation.completion_start_time)),
        "offset": shapes.duration_text(shapes.millis(trace.timestamp, observation.start_time)),
        "cost": shapes.cost_text(observation.total_cost),
        "input": shapes.render_value(observation.input),
        "output": shapes.render_value(observation.output),
        "metadata": shapes.render_value(observation.metadata) if observation.metadata else None,
        "parameters": shapes.json_tree(observation.model_parameters) if observation.model_parameters else None,
        "usage_rows": shapes.usage_cost_rows(observation.usage, observation.cost, price.prices if price else None),
        "price": price,
        # Counted by traces.tokens when the client sent no usage; shown as such, never as the provider's count.
        "usage_counted": observation.metadata.get("usage_counted") if isinstance(observation.metadata, dict) else None,
        "usage_unknown": observation.type == "GENERATION" and not observation.usage,
        "playground": _playground_mode(observation),
    }


def _trace_panel(project_id: int, trace: Trace) -> dict[str, Any]:
    body = selectors.trace_body(project_id=project_id, trace_id=trace.id) or {}
    return {
        "kind": "trace",
        "input": shapes.render_value(body.get("input")),
        "output": shapes.render_value(body.get("output")),
        "metadata": shapes.render_value(body["metadata"]) if body.get("metadata") else None,
    }


def _panel(project_id: int, trace: Trace, observation_id: str) -> dict[str, Any]:
    """What the span panel shows: the trace's own body, a span, or a note that the span is not in this trace."""
    if not observation_id:
        return _trace_panel(project_id, trace)
    observation = selectors.observation_get(project_id=project_id, trace_id=trace.id, observation_id=observation_id)
    if observation is None:
        return {"kind": "missing", "observation_id": observation_id}
    return _observation_panel(project_id, trace, observation)


def _base_context(request: ProjectRequest, trace: Trace) -> dict[str, Any]:
    return {
        "section": "traces",
        "project": request.project,
        "trace": trace,
        "trace_url": reverse("trace-detail", args=[request.project.pk, trace.id]),
    }


@project_view()
@require_GET
def trace_detail(request: ProjectRequest, trace_id: str) -> HttpResponse:
    project_id = request.project.pk
    trace = selectors.trace_get(project_id=project_id, trace_id=trace_id)
    if trace is None:
        return missing_page(request, kind="trace", ident=trace_id)
    spans = selectors.trace_span_rows(project_id=project_id, trace_id=trace.id)
    start = min([trace.timestamp, *(span["start_time"] for span in spans[:1])])  # spans are in start order
    rows, axis = shapes.waterfall(spans, start=start, end=trace.end_time)
    selected = request.GET.get("observation", "")
    context = {
        **_base_context(request, trace),
        "rows": rows,
        "rows_html": shapes.waterfall_html(rows, selected=selected),
        "ticks": shapes.axis_ticks(axis),
        "selected": selected,
        "panel": _panel(project_id, trace, selected),
        "scores": selectors.trace_header_scores(project_id=project_id, trace_id=trace.id),
        "latency": shapes.duration_text(trace.latency_ms),
        "cost": shapes.cost_text(trace.total_cost),
    }
    return render(request, "traces/detail.html", context)


@project_view()
@require_GET
def observation_body(request: ProjectRequest) -> HttpResponse:
    """One span's body for the panel (`?trace_id=…&id=…`; without `id`, the trace's own input and output), or
    with `part=playground` the part of it that is fetched only when asked for (`_playground_handoff`)."""
    project_id = request.project.pk
    trace = _trace_or_404(project_id, request.GET.get("trace_id", ""))
    observation_id = request.GET.get("id", "")
    if request.GET.get("part") == "playground":
        return _playground_handoff(request, trace, observation_id)
    if not request.htmx:
        query = f"?{urlencode({'observation': observation_id})}" if observation_id else ""
        return redirect(reverse("trace-detail", args=[project_id, trace.id]) + query)
    panel = _panel(project_id, trace, observation_id)
    if panel["kind"] == "missing":
        raise Http404("No span with this id in this trace")
    return render(request, PANEL, {**_base_context(request, trace), "selected": observation_id, "panel": panel})


def _playground_handoff(request: ProjectRequest, trace: Trace, observation_id: str) -> HttpResponse:
    """The "Open in playground" form of a generation whose input is too large to ship with the span panel:
    htmx gets the form alone (trace.js submits it at once), anyone else a page with it."""
    observation = selectors.observation_get(
        project_id=request.project.pk, trace_id=trace.id, observation_id=observation_id
    )
    if observation is None or _playground_mode(observation) is None:
        raise Http404("No generation with an input under this id in this trace")
    context = {**_base_context(request, trace), "observation": observation}
    template = "traces/playground_handoff.html"
    return render(request, f"{template}#handoff" if request.htmx else template, context)
