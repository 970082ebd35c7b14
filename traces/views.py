"""Trace pages: the trace list (filters, search, sorts and keyset pages all in the URL; star, bulk delete and a
"new traces" notice over htmx), and Settings → Models & prices (it is about traces' costs, shown in the settings
layout).

Every page uses `project_view(min_role)` (404 for outsiders); POSTs that need more than the page's role
check `request.role` themselves.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from projects.api_errors import error_body
from projects.auth import project_view
from projects.models import Role
from projects.views import first_trace_context
from traces import pricing, selectors
from traces import render as shapes
from traces.filters import COLUMNS, DEFAULT_COLUMNS, RANGE_LABELS, SORTS, parse_trace_filters
from traces.forms import PRICE_FIELDS, ModelPriceForm
from traces.models import Level, ModelPrice
from traces.services import trace_bookmark_set, traces_delete

GET_POST = ["GET", "POST"]
NEW_TRACES_POLL_SECONDS = 5  # how often an open trace list asks whether new traces arrived
# The filters inside the "Filters" panel (the bar shows search, time range, starred and errors).
MORE_FILTERS = frozenset(
    {"name", "user", "session", "tag", "env", "release", "model", "level", "score", "meta", "from", "to"}
    | {"score_value", "score_min", "score_max", "cost_min", "cost_max", "latency_min", "latency_max"}
)
BULK_DELETE_MAX = 500  # one page is 50 rows; more than this in one post is not a person clicking


def _is_admin(request: HttpRequest) -> bool:
    return Role.rank(request.role) >= Role.rank(Role.ADMIN)  # type: ignore[attr-defined]


def _require_admin(request: HttpRequest, what: str) -> None:
    if not _is_admin(request):
        raise PermissionDenied(f"Only admins and owners can {what}; you are {request.role}.")  # type: ignore[attr-defined]


def _rows(project_id: int, search: str) -> list[dict[str, Any]]:
    """Price rows with per-1M amounts and whether each is the one in effect now."""
    now = timezone.now()
    rows = pricing.model_prices_for_project(project_id=project_id, search=search)
    everything = rows if not search else pricing.model_prices_for_project(project_id=project_id)
    book = pricing.PriceBook(
        [
            pricing.Price(r.pk, r.project_id, r.model_name, r.match_pattern, r.prices, r.effective_from)
            for r in everything
        ]
    )
    result = []
    for row in rows:
        current = book.find(project_id=project_id, model=row.model_name, at=now)
        if row.effective_from > now:
            state = "scheduled"
        elif current is not None and current.id == row.pk:
            state = "in effect"
        elif current is not None and current.project_id is not None and row.project_id is None:
            state = "overridden"
        else:
            state = "superseded"
        per_million = {
            name: (None if row.prices.get(name) is None else row.prices[name] * 1_000_000) for name, _ in PRICE_FIELDS
        }
        result.append({"row": row, "per_million": per_million, "state": state})
    return result


@project_view()
@require_http_methods(GET_POST)
def project_models(request: HttpRequest) -> HttpResponse:
    """Effective model prices (built-in and project rows); admins add project overrides."""
    project = request.project  # type: ignore[attr-defined]
    can_edit = _is_admin(request)
    form = ModelPriceForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        _require_admin(request, "change model prices")
        if form.is_valid():
            try:
                row = pricing.model_price_create(
                    project=project,
                    model_name=form.cleaned_data["model_name"],
                    match_pattern=form.cleaned_data["match_pattern"],
                    prices=form.prices(),
                    effective_from=form.effective_from_datetime(),
                    actor=request.user,  # type: ignore[arg-type]
                )
            except pricing.PriceError as exc:
                field = {"modelName": "model_name", "matchPattern": "match_pattern", "startDate": "effective_from"}
                form.add_error(field.get(exc.field), exc.message)
            else:
                messages.success(
                    request,
                    f"Added a project price for {row.model_name}. New traces use it; run `manage.py recost` "
                    "to reprice stored ones.",
                )
                return redirect("project-models", project.pk)
    search = (request.GET.get("q") or "").strip()[:200]
    context = {
        "section": "settings",
        "tab": "models",
        "form": form,
        "can_edit": can_edit,
        "search": search,
        "rows": _rows(project.pk, search),
        "price_fields": PRICE_FIELDS,
    }
    # The search box swaps just the table (htmx); everything else gets the page.
    is_table = request.method == "GET" and request.headers.get("HX-Target") == "price-table"
    return render(
        request, "traces/settings_models.html#price-table" if is_table else "traces/settings_models.html", context
    )


@project_view()
@require_GET
def price_estimate(request: HttpRequest) -> JsonResponse:
    """What a call would cost at the project's prices now: `?model=&input=&output=` (token counts). The
    playground asks this when a run ends (prompts may not import traces, so it asks over HTTP)."""
    project_id: int = request.project.pk  # type: ignore[attr-defined]
    model = (request.GET.get("model") or "").strip()[:200]
    usage: dict[str, int] = {}
    for usage_type in ("input", "output"):
        raw = request.GET.get(usage_type) or "0"
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 12):
            message = f"{usage_type} must be a whole number of tokens (at most 12 digits)."
            return JsonResponse(error_body(400, message, usage_type), status=400)
        usage[usage_type] = int(raw)
    price = pricing.price_find(project_id=project_id, model=model, at=timezone.now()) if model else None
    if price is None:
        return JsonResponse({"model": model, "cost": None, "price": None})
    return JsonResponse(
        {
            "model": model,
            "cost": pricing.cost_from(usage, price.prices),
            "price": {"id": price.id, "modelName": price.model_name, "project": price.project_id is not None},
        }
    )


@project_view(min_role=Role.ADMIN)
@require_http_methods(GET_POST)
def project_model_delete(request: HttpRequest, price_id: int) -> HttpResponse:
    project = request.project  # type: ignore[attr-defined]
    row = get_object_or_404(ModelPrice, pk=price_id, project=project)  # built-ins and others' rows: 404
    if request.method == "GET":
        return render(
            request,
            "projects/confirm.html",
            {
                "section": "settings",
                "tab": "models",
                "title": "Delete model price",
                "message": (
                    f"The project price for {row.model_name} from {row.effective_from:%Y-%m-%d} is removed; new "
                    "traces fall back to the built-in price. Stored costs change only when you run recost."
                ),
                "button": "Delete price",
                "cancel_url": reverse("project-models", args=[project.pk]),
            },
        )
    pricing.model_price_delete(price=row, actor=request.user)  # type: ignore[arg-type]
    if getattr(request, "htmx", False):
        return HttpResponse("")
    messages.success(request, f"Deleted the project price for {row.model_name}.")
    return redirect("project-models", project.pk)


# --- Trace list ------------------------------------------------------------------------------------


def _can_edit_traces(request: HttpRequest) -> bool:
    return Role.rank(request.role) >= Role.rank(Role.MEMBER)  # type: ignore[attr-defined]


def _list_url(request: HttpRequest, query: str = "") -> str:
    url = reverse("trace-list", args=[request.project.pk])  # type: ignore[attr-defined]
    return f"{url}?{query}" if query else url


def _back_to_list(request: HttpRequest) -> str:
    """The list URL the form came from (filters kept), if it is this project's list; else the plain list."""
    url = request.POST.get("next", "")
    base = _list_url(request)
    if url.startswith(base) and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}):
        return url
    return base


def _row_display(row: dict[str, Any]) -> dict[str, Any]:
    row["latency_text"] = shapes.duration_text(row["latency_ms"])
    row["cost_text"] = shapes.cost_text(row["total_cost"])
    return row


@project_view()
@require_GET
def trace_list(request: HttpRequest) -> HttpResponse:
    """Traces, filtered, searched and sorted by the URL's parameters, one keyset page at a time."""
    project = request.project  # type: ignore[attr-defined]
    now = timezone.now()
    filters = parse_trace_filters(request.GET, now=now)
    problems = list(filters.problems)
    try:
        page = selectors.trace_list_page(project_id=project.pk, filters=filters)
    except selectors.TraceSearchTimeout:
        problems.append(
            f"The search for “{filters.q}” took too long and was stopped. Searches are slowest when the words are "
            "common but the exact text is rare or absent: choose a shorter time range or add a filter (name, user, "
            "tag…). Terms under 3 characters cannot use the search index."
        )
        page = selectors.TraceListPage(rows=[], next_cursor=None)
    context: dict[str, Any] = {
        "section": "traces",
        "filters": filters,
        "problems": problems,
        "rows": [_row_display(row) for row in page.rows],
        "next_query": (
            filters.query(cursor=page.next_cursor.encode(), scan="1" if page.scan else "") if page.next_cursor else ""
        ),
        "partial": page.partial,
        "scanned": page.scanned,
        "query": filters.query(),
        "since": now.isoformat(),
        "can_edit": _can_edit_traces(request),
        "columns": filters.columns,
        "column_labels": COLUMNS,
        "range_labels": RANGE_LABELS,
        "levels": Level.values,
        "sort_links": {key: filters.sort_query(key) for key in SORTS},
        "poll_seconds": NEW_TRACES_POLL_SECONDS,
        "chips": filters.chips(),
        "range_label": RANGE_LABELS[filters.range],
        "more_count": sum(1 for key, _ in filters.params() if key in MORE_FILTERS),
        "more_open": bool(problems),
        "custom_columns": filters.columns != DEFAULT_COLUMNS,
        "column_form_params": [(key, value) for key, value in filters.params() if key != "col"],
        "colspan": len(filters.columns) + 2 + (1 if _can_edit_traces(request) else 0),
        "all_time_query": filters.query(drop=(("from", None), ("to", None)), range="all"),
    }
    if not page.rows and not filters.cursor and not selectors.project_has_traces(project_id=project.pk):
        context |= {"no_traces": True, **first_trace_context(request)}  # type: ignore[arg-type]
    else:
        context["suggestions"] = selectors.trace_filter_suggestions(project_id=project.pk)
    return render(request, "traces/list.html", context)


@project_view()
@require_GET
def trace_list_new(request: HttpRequest) -> HttpResponse:
    """The "N new traces" notice: how many traces passing the page's filters arrived after `since`."""
    project = request.project  # type: ignore[attr-defined]
    filters = parse_trace_filters(request.GET, now=timezone.now())
    try:
        since = datetime.fromisoformat(request.GET.get("since", ""))
    except ValueError:
        return HttpResponseBadRequest("since must be an ISO 8601 time with a zone")
    if since.tzinfo is None:
        return HttpResponseBadRequest("since must be an ISO 8601 time with a zone")
    try:
        count = selectors.trace_list_new_count(project_id=project.pk, filters=filters, since=since)
    except selectors.TraceSearchTimeout:
        count = 0  # the page itself already says the search is too broad
    context = {
        "new_count": count,
        "new_cap": selectors.NEW_TRACES_CAP,
        "query": filters.query(),
        "since": since.isoformat(),
        "poll_seconds": NEW_TRACES_POLL_SECONDS,
    }
    return render(request, "traces/list.html#new-traces", context)


@project_view()
@require_POST
def trace_star(request: HttpRequest) -> HttpResponse:
    """Stars (`starred=1`) or unstars a trace. Members and up; htmx gets the button back."""
    project = request.project  # type: ignore[attr-defined]
    if not _can_edit_traces(request):
        raise PermissionDenied(f"Viewers cannot star traces; you are {request.role}.")  # type: ignore[attr-defined]
    trace_id = request.POST.get("trace_id", "")
    starred = request.POST.get("starred") == "1"
    if not trace_bookmark_set(project=project, trace_id=trace_id, bookmarked=starred):
        raise Http404("No trace with this id in this project")
    if getattr(request, "htmx", False):
        row = {"id": trace_id, "bookmarked": starred}
        return render(request, "traces/list.html#star", {"row": row, "can_edit": True})
    return redirect(_back_to_list(request))


@project_view()
@require_POST
def trace_bulk_delete(request: HttpRequest) -> HttpResponse:
    """Deletes the checked traces (with their observations and scores). Members and up.

    htmx asks with hx-confirm and sends `confirmed=1`; a plain form post is answered with a confirmation page
    first, so nothing is deleted by one click without a question."""
    project = request.project  # type: ignore[attr-defined]
    if not _can_edit_traces(request):
        raise PermissionDenied(f"Viewers cannot delete traces; you are {request.role}.")  # type: ignore[attr-defined]
    trace_ids = [t for t in request.POST.getlist("trace_id") if t][:BULK_DELETE_MAX]
    back = _back_to_list(request)
    if not trace_ids:
        messages.error(request, "Select at least one trace to delete.")
    elif request.POST.get("confirmed") != "1":
        context = {"section": "traces", "trace_ids": trace_ids, "next": back}
        return render(request, "traces/delete_confirm.html", context)
    else:
        deleted = traces_delete(project=project, trace_ids=trace_ids, actor=request.user)  # type: ignore[arg-type]
        messages.success(request, f"Deleted {deleted} trace{'s' if deleted != 1 else ''} with their spans and scores.")
    if getattr(request, "htmx", False):
        return HttpResponseClientRedirect(back)
    return redirect(back)
