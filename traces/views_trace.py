"""The trace detail page: header, span tree beside a waterfall timeline, and the span panel.

The page itself never carries span bodies: its rows hold ids, names, types, times, costs and levels.
The selected span's input, output and metadata come with the page only for the span named in
`?observation=`; every other span's body is fetched on demand from `observation-body`, which answers
htmx with the `span-panel` fragment (and anyone else with a redirect to the page showing that span).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from projects.auth import project_view
from projects.views import ProjectRequest
from traces import render as shapes
from traces import selectors
from traces.models import Observation, Trace

PANEL = "traces/detail.html#span-panel"


def _trace_or_404(project_id: int, trace_id: str) -> Trace:
    trace = selectors.trace_get(project_id=project_id, trace_id=trace_id)
    if trace is None:
        raise Http404("No trace with this id in this project")
    return trace


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
    trace = _trace_or_404(project_id, trace_id)
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
        "scores": [
            (score, shapes.score_text(value=score.value, string_value=score.string_value, data_type=score.data_type))
            for score in selectors.trace_header_scores(project_id=project_id, trace_id=trace.id)
        ],
        "latency": shapes.duration_text(trace.latency_ms),
        "cost": shapes.cost_text(trace.total_cost),
    }
    return render(request, "traces/detail.html", context)


@project_view()
@require_GET
def observation_body(request: ProjectRequest) -> HttpResponse:
    """One span's body for the panel (`?trace_id=…&id=…`; without `id`, the trace's own input and output)."""
    project_id = request.project.pk
    trace = _trace_or_404(project_id, request.GET.get("trace_id", ""))
    observation_id = request.GET.get("id", "")
    if not request.htmx:
        query = f"?{urlencode({'observation': observation_id})}" if observation_id else ""
        return redirect(reverse("trace-detail", args=[project_id, trace.id]) + query)
    panel = _panel(project_id, trace, observation_id)
    if panel["kind"] == "missing":
        raise Http404("No span with this id in this trace")
    return render(request, PANEL, {**_base_context(request, trace), "selected": observation_id, "panel": panel})
