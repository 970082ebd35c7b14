"""Per-version usage of a prompt, from the traces: an htmx fragment the prompt page embeds.

It lives in traces because it reads trace tables and the prompts app may not import traces (imports point
`traces` → `prompts`); the prompt page loads it with hx-get.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from projects.auth import project_view
from traces import selectors


@project_view()
@require_GET
def prompt_usage(request: HttpRequest) -> HttpResponse:
    """`?name=<prompt name>`: generations, tokens, cost, latency, scores and feedback per version."""
    name = request.GET.get("name", "")
    rows = selectors.prompt_version_usage(project_id=request.project.pk, prompt_name=name)  # type: ignore[attr-defined]
    return render(request, "traces/_prompt_usage.html", {"rows": rows, "name": name})
