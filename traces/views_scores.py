"""Annotation: the score panel (scores of a trace, an observation or a session, and the controls to add
one) and Settings → Scores (the project's score configs).

The panel is an htmx fragment that trace and session pages embed with
`<div hx-get="{% url 'score-panel' project.id %}?trace_id=…" hx-trigger="load">`; visited directly it is
a page of its own, so every form also works without JavaScript.

Annotations from the UI are scores with source ANNOTATION and the author's user id, one per author per
name per target: saving again (or a double click) replaces it. Two quick actions need no config:
thumbs up/down writes the BOOLEAN score `thumbs`, "mark good / mark bad" the BOOLEAN score `quality`.
A BOOLEAN config of the same name, if any, is linked to them; a config of another type takes the name
away from the quick action (a name keeps one data type). A successful htmx POST also sends the client
event `scores-changed` (detail: the target's ids), so an embedding page can refresh what it shows of
scores with `hx-trigger="scores-changed from:body"`.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from projects.auth import project_view
from projects.models import Role
from projects.services import Conflict
from traces import selectors, services
from traces.forms import ScoreAnnotationForm, ScoreConfigForm
from traces.models import ScoreConfig, ScoreDataType, ScoreSource
from traces.selectors import ScoreTarget

GET_POST = ["GET", "POST"]

# The panel's one-click annotations: button value → (score name, verdict).
QUICK_ACTIONS: dict[str, tuple[str, bool]] = {
    "thumbs-up": ("thumbs", True),
    "thumbs-down": ("thumbs", False),
    "good": ("quality", True),
    "bad": ("quality", False),
}
QUICK_NAMES = ("thumbs", "quality")


def _has_role(request: HttpRequest, role: str) -> bool:
    return Role.rank(request.role) >= Role.rank(role)  # type: ignore[attr-defined]


# --- Score panel -----------------------------------------------------------------------------------


def _panel_key(target: ScoreTarget) -> str:
    """A short id unique to the target, so a page embedding several panels gets distinct element ids."""
    return hashlib.sha256(repr(target.query()).encode()).hexdigest()[:10]


def _panel_url(project_id: int, target: ScoreTarget) -> str:
    return f"{reverse('score-panel', args=[project_id])}?{urlencode(target.query())}"


def _quick_config(configs: dict[str, ScoreConfig], name: str) -> tuple[bool, ScoreConfig | None]:
    """Whether the quick action for `name` may write, and the BOOLEAN config it links to."""
    config = configs.get(name)
    if config is None:
        return True, None
    usable = config.data_type == ScoreDataType.BOOLEAN and not config.is_archived
    return usable, config if usable else None


def _panel(
    request: HttpRequest,
    target: ScoreTarget,
    *,
    bound: ScoreAnnotationForm | None = None,
    error: str = "",
    add_open: bool = False,
) -> HttpResponse:
    project = request.project  # type: ignore[attr-defined]
    user = request.user
    scores = selectors.scores_for_target(project_id=project.pk, target=target)
    configs = selectors.score_configs(project_id=project.pk)
    mine = {s.name: s for s in scores if s.source == ScoreSource.ANNOTATION and s.author_user_id == user.pk}
    key = _panel_key(target)
    forms = []
    for config in configs:
        if config.is_archived:
            continue
        if bound is not None and bound.config.pk == config.pk:
            forms.append(bound)
            continue
        auto_id = f"score-{key}-{config.pk}-%s"
        forms.append(ScoreAnnotationForm(config=config, current=mine.get(config.name), auto_id=auto_id))
    by_name = {c.name: c for c in configs}
    quick = {name: _quick_config(by_name, name)[0] for name in QUICK_NAMES}
    context = {
        "target": target,
        "scores": scores,
        "mine": {name: score.value for name, score in mine.items()},
        "forms": forms,
        "quick": quick,
        "panel_url": _panel_url(project.pk, target),
        "panel_key": key,
        "can_annotate": _has_role(request, Role.MEMBER),
        "can_configure": _has_role(request, Role.ADMIN),
        "error": error,
        "add_open": add_open or bound is not None,  # keep the form open for the next score
    }
    template = "traces/_score_panel.html#panel" if request.htmx else "traces/_score_panel.html"  # type: ignore[attr-defined]
    return render(request, template, context)


@project_view()
@require_http_methods(GET_POST)
def score_panel(request: HttpRequest) -> HttpResponse:
    """GET: the target's scores and the annotate controls. POST (members and up): `action` = `quick`
    (with `quick` = thumbs-up|thumbs-down|good|bad), `score` (with `config`, `value`, `comment`) or
    `delete` (with `score_id`, one's own annotation); answers with the re-rendered panel."""
    project = request.project  # type: ignore[attr-defined]
    target = selectors.score_target_from_query(project_id=project.pk, query=request.GET)
    if target is None:
        raise Http404("No such trace, observation or session in this project.")
    if request.method == "GET":
        return _panel(request, target)
    if not _has_role(request, Role.MEMBER):
        raise PermissionDenied(f"Only members, admins and owners can annotate; you are {request.role}.")  # type: ignore[attr-defined]

    action = request.POST.get("action")
    saved = ""
    if action == "quick":
        if request.POST.get("quick") not in QUICK_ACTIONS:
            return HttpResponseBadRequest("quick must be one of: " + ", ".join(QUICK_ACTIONS))
        name, verdict = QUICK_ACTIONS[request.POST["quick"]]
        named = selectors.score_config_named(project_id=project.pk, name=name)
        usable, config = _quick_config({name: named} if named else {}, name)
        if not usable:
            return _panel(request, target, error=f"The score config “{name}” is not a boolean one in use.")
        services.score_annotate(
            project=project,
            target=target,
            name=name,
            data_type=ScoreDataType.BOOLEAN,
            value=1.0 if verdict else 0.0,
            string_value="True" if verdict else "False",
            comment=None,
            author=request.user,  # type: ignore[arg-type]
            config=config,
        )
        saved = f"Saved {name}."
    elif action == "score":
        config = selectors.score_config_active(project_id=project.pk, config_id=request.POST.get("config", ""))
        if config is None:
            return _panel(request, target, error="That score config was archived or deleted; choose another.")
        form = ScoreAnnotationForm(request.POST, config=config, auto_id=f"score-{_panel_key(target)}-{config.pk}-%s")
        if not form.is_valid():
            return _panel(request, target, bound=form)
        services.score_annotate(
            project=project,
            target=target,
            name=config.name,
            data_type=config.data_type,
            value=form.cleaned_data["number"],
            string_value=form.cleaned_data["label"],
            comment=form.cleaned_data["comment"],
            author=request.user,  # type: ignore[arg-type]
            config=config,
        )
        saved = f"Saved {config.name}."
    elif action == "delete":
        if not services.score_annotation_delete(
            project=project,
            target=target,
            score_id=request.POST.get("score_id", ""),
            author=request.user,  # type: ignore[arg-type]
        ):
            return _panel(request, target, error="That score is gone or is not one of your annotations.")
        saved = "Removed your score."
    else:
        return HttpResponseBadRequest("action must be quick, score or delete.")

    if request.htmx:  # type: ignore[attr-defined]
        # Pages that show scores elsewhere (a trace header, a list row) can refresh on this event.
        response = _panel(request, target, add_open=action == "score")
        return trigger_client_event(response, "scores-changed", target.query())
    messages.success(request, saved)
    return redirect(_panel_url(project.pk, target))


# --- Settings → Scores -----------------------------------------------------------------------------


def _configs_page(request: HttpRequest, form: ScoreConfigForm) -> HttpResponse:
    context: dict[str, Any] = {
        "section": "settings",
        "tab": "scores",
        "form": form,
        "configs": selectors.score_configs(project_id=request.project.pk),  # type: ignore[attr-defined]
        "can_edit": _has_role(request, Role.ADMIN),
    }
    return render(request, "traces/settings_score_configs.html", context)


@project_view()
@require_http_methods(GET_POST)
def project_score_configs(request: HttpRequest) -> HttpResponse:
    """Lists the project's score configs; admins and owners create them (POST)."""
    project = request.project  # type: ignore[attr-defined]
    form = ScoreConfigForm(request.POST if request.method == "POST" else None, project_id=project.pk)
    if request.method == "POST":
        if not _has_role(request, Role.ADMIN):
            raise PermissionDenied(f"Only admins and owners can change score configs; you are {request.role}.")  # type: ignore[attr-defined]
        if form.is_valid():
            data = form.cleaned_data
            try:
                config = services.score_config_create(
                    project=project,
                    name=data["name"],
                    data_type=data["data_type"],
                    min_value=data["min_value"],
                    max_value=data["max_value"],
                    categories=data["categories"],
                    description=data["description"].strip(),
                    actor=request.user,  # type: ignore[arg-type]
                )
            except Conflict as exc:
                form.add_error("name", str(exc))
            else:
                messages.success(request, f"Created the score config {config.name}. Annotators can use it now.")
                return redirect("project-score-configs", project.pk)
    return _configs_page(request, form)


@project_view(min_role=Role.ADMIN)
@require_POST
def project_score_config_archive(request: HttpRequest, config_id: int) -> HttpResponse:
    """POST `archived=1` archives, `archived=0` restores; htmx gets the table row back."""
    project = request.project  # type: ignore[attr-defined]
    config = get_object_or_404(
        ScoreConfig.objects.select_related("project__organization"), pk=config_id, project=project
    )
    archived = request.POST.get("archived") == "1"
    # Archived configs leave the annotate form; scores already given keep their values.
    services.score_config_update(config=config, changes={"is_archived": archived}, actor=request.user)  # type: ignore[arg-type]
    if request.htmx:  # type: ignore[attr-defined]
        context = {"config": config, "can_edit": True}
        return render(request, "traces/settings_score_configs.html#config-row", context)
    messages.success(request, f"{'Archived' if archived else 'Restored'} the score config {config.name}.")
    return redirect("project-score-configs", project.pk)
