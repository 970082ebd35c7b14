"""Trace pages. Settings → Models & prices lives here (it is about traces' costs, shown in the settings layout).

Every page uses `project_view(min_role)` (404 for outsiders); POSTs that need more than the page's role
check `request.role` themselves.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from projects.auth import project_view
from projects.models import Role
from traces import pricing
from traces.forms import PRICE_FIELDS, ModelPriceForm
from traces.models import ModelPrice

GET_POST = ["GET", "POST"]


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
