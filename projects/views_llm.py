"""Settings → LLM connections: admins add, edit and delete them; members test and use them; viewers read.

The API key is write-only: no page or response ever contains it after the form that set it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from projects import llm, selectors, services
from projects.auth import project_view
from projects.forms import LLMConnectionForm
from projects.models import LLMConnection, Role
from projects.views import GET_POST, ProjectRequest, _bound, _confirm, _is_admin, _require_admin


def _context(request: ProjectRequest, **extra: Any) -> dict[str, Any]:
    return {
        "section": "settings",
        "tab": "llm",
        "can_edit": _is_admin(request.role),
        "can_use": Role.rank(request.role) >= Role.rank(Role.MEMBER),
        **extra,
    }


def _connection(request: ProjectRequest, connection_id: int) -> LLMConnection:
    return get_object_or_404(
        LLMConnection.objects.select_related("project__organization"), pk=connection_id, project=request.project
    )


@project_view()
@require_http_methods(GET_POST)
def project_llm_connections(request: ProjectRequest) -> HttpResponse:
    form = LLMConnectionForm(_bound(request))
    if request.method == "POST":
        _require_admin(request, "add LLM connections")
        if form.is_valid():
            data = form.cleaned_data
            try:
                connection = services.llm_connection_create(
                    project=request.project,
                    name=data["name"],
                    provider=data["provider"],
                    base_url=data["base_url"],
                    api_version=data["api_version"],
                    api_key=data["api_key"],
                    model_names=data["model_names"],
                    extra_headers=data["extra_headers"],
                    actor=request.user,
                )
            except services.Conflict as error:
                form.add_error("name", str(error))
            else:
                messages.success(request, f"Added the connection {connection.name}. Test it to check the key.")
                return redirect("project-llm-connections", request.project.pk)
    connections = selectors.project_llm_connections(project_id=request.project.pk)
    return render(request, "projects/settings_llm.html", _context(request, form=form, connections=connections))


@project_view(min_role=Role.ADMIN)
@require_http_methods(GET_POST)
def project_llm_connection_edit(request: ProjectRequest, connection_id: int) -> HttpResponse:
    connection = _connection(request, connection_id)
    initial = {
        "name": connection.name,
        "provider": connection.provider,
        "base_url": connection.base_url,
        "api_version": connection.api_version,
        "model_names": ", ".join(connection.model_names),
    }
    form = LLMConnectionForm(_bound(request), initial=initial, editing=connection)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.llm_connection_update(
                connection=connection,
                name=data["name"],
                provider=data["provider"],
                base_url=data["base_url"],
                api_version=data["api_version"],
                model_names=data["model_names"],
                api_key=data["api_key"] or None,
                extra_headers=data["extra_headers"],
                actor=request.user,
            )
        except services.Conflict as error:
            form.add_error("name", str(error))
        else:
            messages.success(request, f"Saved the connection {connection.name}.")
            return redirect("project-llm-connections", request.project.pk)
    return render(request, "projects/settings_llm_edit.html", _context(request, form=form, connection=connection))


@project_view(min_role=Role.ADMIN)
@require_http_methods(GET_POST)
def project_llm_connection_delete(request: ProjectRequest, connection_id: int) -> HttpResponse:
    connection = _connection(request, connection_id)
    if request.method == "GET":
        return _confirm(
            request,
            title=f"Delete the connection {connection.name}",
            message="The playground and evaluations that use it stop working until you pick another connection.",
            button="Delete connection",
            cancel_url=reverse("project-llm-connections", args=[request.project.pk]),
            tab="llm",
        )
    services.llm_connection_delete(connection=connection, actor=request.user)
    if request.htmx:
        return HttpResponse("")
    messages.success(request, f"Deleted the connection {connection.name}.")
    return redirect("project-llm-connections", request.project.pk)


@project_view(min_role=Role.MEMBER)
@require_POST
def project_llm_connection_test(request: ProjectRequest, connection_id: int) -> HttpResponse:
    """Calls the provider with the stored key: lists models, or sends a 1-token completion."""
    connection = _connection(request, connection_id)
    check = llm.connection_check(connection)
    if request.htmx:
        return render(request, "projects/settings_llm.html#test-result", {"check": check, "connection": connection})
    connections = selectors.project_llm_connections(project_id=request.project.pk)
    context = _context(request, form=LLMConnectionForm(), connections=connections, check=check, checked=connection)
    return render(request, "projects/settings_llm.html", context)
