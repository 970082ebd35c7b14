"""Prompt pages: the list, a prompt's page (versions, labels, splits), the version editor, diffs and the
playground.

Every page uses `project_view(min_role)` (404 for outsiders). Roles are enforced by the services, which
take `actor_role=request.role`; pages only hide the controls a role cannot use. Per-version usage comes
from traces, which this app cannot import: the prompt page embeds `traces/views_prompt_usage.py` with hx-get.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from projects.auth import project_view
from projects.models import Role
from projects.selectors import project_llm_connections
from prompts import diff, playground, selectors, selectors_pages, services
from prompts.content import is_digits, variables_detect
from prompts.errors import PromptError, PromptForbidden
from prompts.models import PromptType, PromptVersion

GET_POST = ["GET", "POST"]


def _can(request: HttpRequest, role: str) -> bool:
    return Role.rank(request.role) >= Role.rank(role)  # type: ignore[attr-defined]


def _prompt_url(project_id: int, name: str, **query: Any) -> str:
    url = reverse("prompt-detail", args=[project_id, name])
    return f"{url}?{urlencode(query)}" if query else url


# --- Playground ------------------------------------------------------------------------------------


def _state_from_prompt(request: HttpRequest) -> tuple[playground.PlaygroundState, PromptVersion | None]:
    """`?prompt=<name>` with `version=<n>` or `label=<label>` (default `latest`) loads that version."""
    name = request.GET.get("prompt", "").strip()
    if not name:
        return playground.PlaygroundState(), None
    project_id = request.project.pk  # type: ignore[attr-defined]
    prompt = selectors.prompt_get(project_id=project_id, name=name)
    version_raw = request.GET.get("version", "")
    if is_digits(version_raw):
        version = selectors.prompt_version_get(prompt=prompt, version=int(version_raw))
    else:
        state = selectors.prompt_label_state(prompt=prompt, label=request.GET.get("label") or selectors.LATEST_LABEL)
        version = selectors.prompt_version_get(prompt=prompt, version=state.version)
    config = dict(version.config or {})
    model = str(config.pop("model", "") or "")
    # Placeholders stay as rows: Save keeps them, Run fills them (or leaves them out).
    messages = playground.messages_normalise(version.content, placeholders=True)
    return playground.PlaygroundState(messages=messages, model=model, parameters=config), version


def _prefill_on_version(
    request: HttpRequest, state: playground.PlaygroundState
) -> tuple[playground.PlaygroundState, PromptVersion | None, str]:
    """A generation's prefill that names its prompt (`prompt_name`, `prompt_version`): when that version is
    in this project and its messages match the recorded ones, open it with the variables recovered;
    otherwise the recorded messages as they are, and a note saying why."""
    name, number = request.POST.get("prompt_name", "").strip(), request.POST.get("prompt_version", "").strip()
    if not name or not is_digits(number):
        return state, None, ""
    try:
        prompt = selectors.prompt_get(project_id=request.project.pk, name=name)  # type: ignore[attr-defined]
        version = selectors.prompt_version_get(prompt=prompt, version=int(number))
    except PromptError:
        return state, None, f"{name} v{number} is not in this project's registry: the recorded messages are shown."
    try:
        composed, _ = selectors.prompt_compose(version=version)  # what the generation was sent
    except PromptError:
        composed = version.content  # an included prompt is gone since: match what is left
    opened = playground.version_match(
        state=state,
        rows=playground.messages_normalise(version.content, placeholders=True),
        composed=playground.messages_normalise(composed, placeholders=True),
    )
    if opened is None:
        return state, None, f"The recorded messages do not match {name} v{number}: they are shown as recorded."
    if not opened.model:
        opened.model = str((version.config or {}).get("model") or "")
    return opened, version, "The variables are filled from the generation's recorded messages."


@project_view()
@require_http_methods(GET_POST)
def prompt_playground(request: HttpRequest) -> HttpResponse:
    """The playground. GET starts empty or from `?prompt=&version=`; a POST is a prefill from elsewhere
    ("Open in playground" on a generation): `messages`, `model`, `parameters`, `variables` as JSON, and
    `prompt_name`/`prompt_version` to open that version with the variables recovered from the messages."""
    source: PromptVersion | None = None
    notice = ""
    try:
        if request.method == "POST":
            state, source, notice = _prefill_on_version(request, playground.state_from_prefill(request.POST))
        else:
            state, source = _state_from_prompt(request)
    except PromptError as error:
        return _playground_page(request, playground.PlaygroundState(), error=error)
    return _playground_page(request, state, source=source, notice=notice)


def _playground_page(
    request: HttpRequest,
    state: playground.PlaygroundState,
    *,
    source: PromptVersion | None = None,
    error: PromptError | None = None,
    save_form: dict[str, str] | None = None,
    result: playground.RunResult | None = None,
    notice: str = "",
) -> HttpResponse:
    connections = list(project_llm_connections(project_id=request.project.pk))  # type: ignore[attr-defined]
    if state.connection_id not in {c.pk for c in connections}:
        # The connection asked for, else one that offers the model, else the first.
        chosen = request.GET.get("connection", "")
        fallback = next((c.pk for c in connections if state.model in c.model_names), None)
        state.connection_id = next((c.pk for c in connections if str(c.pk) == chosen), fallback) or (
            connections[0].pk if connections else None
        )
    context = {
        "section": "prompts",
        "state": state,
        "connections": connections,
        "roles": playground.ROLES,
        "blank_message": {"role": "user", "content": ""},
        "source": source,
        "error": error.message if error else "",
        "notice": notice,
        "placeholder_role": playground.PLACEHOLDER,
        "result": result,
        "save_form": save_form
        or {
            "prompt_name": source.prompt.name if source else "",
            "prompt_type": source.prompt.type if source else PromptType.CHAT,
        },
        "can_run": _can(request, Role.MEMBER),
        "can_manage_connections": _can(request, Role.ADMIN),
    }
    return render(request, "prompts/playground.html", context, status=error.status if error else 200)


def _json_error(message: str, field: str | None) -> JsonResponse:
    body = {"error": "invalid", "message": message}
    if field:
        body["field"] = field
    return JsonResponse(body, status=400)


@project_view(min_role=Role.MEMBER)
@require_POST
def prompt_playground_run(request: HttpRequest) -> HttpResponse:
    """Streams one completion as server-sent events (`playground.run`) to the page's script, which asks for
    `text/event-stream`; bad input is then a 400 JSON. A plain form post (no JavaScript) gets the page back
    with the whole answer or the error. Included prompts (`@@@langfusePrompt:…@@@`) are resolved for the
    run as a fetch would resolve them; the page keeps them as written (Save stores them so)."""
    stream = "text/event-stream" in request.headers.get("Accept", "")
    state = playground.PlaygroundState()
    connection = None
    try:
        state = playground.state_from_editor(request.POST)
        try:
            composed = selectors.content_compose(project_id=request.project.pk, content=state.content)  # type: ignore[attr-defined]
        except PromptError as error:
            raise PromptError(error.message, "messages") from None  # the playground's field, not the API's
        sent = state.with_content(composed)
        if not state.model:
            raise PromptError("Pick or type a model.", "model")
        connection = (
            project_llm_connections(project_id=request.project.pk)  # type: ignore[attr-defined]
            .filter(pk=state.connection_id)
            .first()
        )
        if connection is None:
            raise PromptError("Pick an LLM connection (Settings → LLM connections).", "connection")
    except PromptError as error:
        return _json_error(error.message, error.field) if stream else _playground_page(request, state, error=error)
    if not stream:
        return _playground_page(request, state, result=playground.run_collect(connection=connection, state=sent))
    response = StreamingHttpResponse(
        playground.run_sse(connection=connection, state=sent), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx and similar proxies must pass tokens through as they come
    return response


@project_view(min_role=Role.MEMBER)
@require_POST
def prompt_playground_save(request: HttpRequest) -> HttpResponse:
    """Saves the playground's messages (placeholders included), model and parameters as a new version of a
    prompt (new or existing)."""
    project = request.project  # type: ignore[attr-defined]
    save_form = {key: request.POST.get(key, "") for key in ("prompt_name", "prompt_type", "commit_message")}
    try:
        state = playground.state_from_editor(request.POST)
    except PromptError as error:
        return _playground_page(request, playground.PlaygroundState(), error=error, save_form=save_form)
    try:
        as_text = request.POST.get("prompt_type") == PromptType.TEXT
        if as_text and (len(state.messages) != 1 or state.messages[0]["role"] == playground.PLACEHOLDER):
            raise PromptError("A text prompt is one message; remove the others or save it as a chat prompt.")
        config = {**state.parameters, **({"model": state.model} if state.model else {})}
        version = services.prompt_version_create(
            project=project,
            name=request.POST.get("prompt_name", ""),
            # As written: placeholders and included prompts' tags stay (a run resolves them, Save does not).
            content=state.messages[0]["content"] if as_text else state.content,
            prompt_type=PromptType.TEXT if as_text else PromptType.CHAT,
            config=config,
            commit_message=request.POST.get("commit_message", "").strip()[:500],
            author=request.user,  # type: ignore[arg-type]
            actor_role=request.role,  # type: ignore[attr-defined]
        )
    except PromptError as error:
        return _playground_page(request, state, error=error, save_form=save_form)
    messages.success(request, f"Saved {version.prompt.name} version {version.version}.")
    return redirect(_prompt_url(project.pk, version.prompt.name, version=version.version))


# --- Prompt list ------------------------------------------------------------------------------------

LIST_PAGE_SIZE = 50


@project_view()
@require_GET
def prompt_list(request: HttpRequest) -> HttpResponse:
    """Prompts by name: search (`q`), folder (`folder`), label and tag filters, page by page (all in the URL)."""
    project_id = request.project.pk  # type: ignore[attr-defined]
    filters = {key: request.GET.get(key, "").strip() for key in ("q", "folder", "label", "tag")}
    page_raw = request.GET.get("page", "")
    page_number = int(page_raw) if is_digits(page_raw) and int(page_raw) > 0 else 1
    page = selectors.prompt_list(
        project_id=project_id,
        search=filters["q"] or None,
        folder=filters["folder"] or None,
        label=filters["label"] or None,
        tag=filters["tag"] or None,
        page=page_number,
        limit=LIST_PAGE_SIZE,
    )
    folder = filters["folder"].strip("/")
    context = {
        "section": "prompts",
        "filters": filters,
        "rows": page.rows,
        "total": page.total,
        "page": page_number,
        "has_next": page_number * LIST_PAGE_SIZE < page.total,
        "folder": folder,
        "folder_parts": _folder_parts(folder),
        "folders": selectors_pages.prompt_folders(project_id=project_id, folder=folder),
        "query": {k: v for k, v in filters.items() if v},
        "can_write": _can(request, Role.MEMBER),
    }
    template = "prompts/list.html#prompt-results" if request.htmx else "prompts/list.html"  # type: ignore[attr-defined]
    return render(request, template, context)


def _folder_parts(folder: str) -> list[tuple[str, str]]:
    """Breadcrumbs for a folder: (segment, path up to it)."""
    parts = folder.split("/") if folder else []
    return [(part, "/".join(parts[: index + 1])) for index, part in enumerate(parts)]


# --- Prompt page ------------------------------------------------------------------------------------


TIMELINE_SIZE = 50


@project_view()
@require_GET
def prompt_detail(request: HttpRequest, name: str) -> HttpResponse:
    """A prompt: labels and what each serves (splits with their traffic share), the versions timeline, the
    selected version (`?version=`), the label history, and per-version usage from traces (embedded)."""
    project_id = request.project.pk  # type: ignore[attr-defined]
    try:
        prompt = selectors.prompt_get(project_id=project_id, name=name)
    except PromptError as error:
        raise Http404(error.message) from None
    # The timeline is a keyset page of versions (`?before=<version>` for older ones).
    timeline = selectors.prompt_versions(prompt=prompt)
    before = request.GET.get("before", "")
    if is_digits(before):
        timeline = timeline.filter(version__lt=int(before))
    versions = list(timeline[: TIMELINE_SIZE + 1])
    older = versions[TIMELINE_SIZE - 1].version if len(versions) > TIMELINE_SIZE else None
    versions = versions[:TIMELINE_SIZE]
    selected_raw = request.GET.get("version", "")
    selected = next((v for v in versions if str(v.version) == selected_raw), None)
    if selected is None and is_digits(selected_raw):
        try:
            selected = selectors.prompt_version_get(prompt=prompt, version=int(selected_raw))
        except PromptError as error:
            raise Http404(error.message) from None
    selected = selected or (versions[0] if versions else None)
    context = {
        "section": "prompts",
        "prompt": prompt,
        "versions": versions,
        "older": older,
        "version_options": selectors_pages.prompt_version_options(prompt=prompt),
        "selected": selected,
        "selected_config": _pretty_json(selected.config) if selected and selected.config else "",
        "labels": selectors.prompt_label_states(prompt=prompt),
        "audit": selectors.prompt_audit_events(prompt=prompt, limit=20),
        "can_write": _can(request, Role.MEMBER),
        "can_admin": _can(request, Role.ADMIN),
        "latest_label": selectors.LATEST_LABEL,
    }
    return render(request, "prompts/detail.html", context)


def _pretty_json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


@project_view(min_role=Role.MEMBER)
@require_POST
def prompt_label_action(request: HttpRequest) -> HttpResponse:
    """One label change from the prompt page: `op` is set | delete | rollback | split | promote | unsplit.

    The services check the role (members: labels other than `production`; admins: `production` and splits)
    and audit-log the change; a refusal comes back as a message on the prompt page.
    """
    data = request.POST
    project_id = request.project.pk  # type: ignore[attr-defined]
    role = request.role  # type: ignore[attr-defined]
    name, label, op = data.get("name", ""), data.get("label", "").strip(), data.get("op", "")
    version_raw = data.get("version", "")
    version = int(version_raw) if is_digits(version_raw) else None
    try:
        prompt = selectors.prompt_get(project_id=project_id, name=name)
    except PromptError as error:
        raise Http404(error.message) from None
    try:
        common = {"prompt": prompt, "label": label, "actor": request.user, "actor_role": role}
        if op == "set":
            if version is None:
                raise PromptError("Choose a version for the label.", "version")
            row = selectors.prompt_version_get(prompt=prompt, version=version)
            services.prompt_labels_add(version=row, labels=[label], actor=request.user, actor_role=role)
            done = f"“{label}” now serves version {version}."
        elif op == "delete":
            services.prompt_label_delete(**common)
            done = f"Removed the label “{label}”."
        elif op == "rollback":
            # Without a version: the one the label served before its last change (from the audit log).
            state = services.prompt_label_rollback(**common)
            done = f"Rolled “{label}” back to version {state.version}."
        elif op == "promote":
            if version is None:
                raise PromptError("Choose the variant to promote.", "version")
            services.prompt_split_promote(**common, version=version)
            done = f"Version {version} now serves all of “{label}”."
        elif op == "unsplit":
            state = services.prompt_split_delete(**common)
            done = f"“{label}” serves version {state.version} alone again."
        elif op == "split":
            services.prompt_split_set(**common, variants=_split_variants(data))
            done = f"Saved the split of “{label}”."
        else:
            raise PromptError(f"Unknown label action {op!r}.", "op")
    except PromptError as error:
        if isinstance(error, PromptForbidden):
            raise PermissionDenied(error.message) from None
        messages.error(request, error.message)
    else:
        messages.success(request, done)
    back = data.get("back_version", "")
    return redirect(_prompt_url(project_id, name, **({"version": back} if is_digits(back) else {})) + "#labels")


def _split_variants(data: QueryDict) -> list[dict[str, Any]]:
    """The split editor's repeated `split_version`/`split_weight` rows; empty rows are skipped."""
    variants = []
    for version, weight in zip(data.getlist("split_version"), data.getlist("split_weight"), strict=False):
        if not version.strip() and not weight.strip():
            continue
        if not is_digits(version.strip()) or not is_digits(weight.strip()):
            raise PromptError("Every variant needs a version and a whole-number weight.", "variants")
        variants.append({"version": int(version), "weight": int(weight)})
    return variants


# --- Version editor -----------------------------------------------------------------------------------

EDITOR_ROLES = (*playground.ROLES, "placeholder")


@project_view()
@require_http_methods(GET_POST)
def prompt_editor(request: HttpRequest) -> HttpResponse:
    """A new version: `?name=` (empty for a new prompt), starting from `?from=<version>` (default: latest).

    Text or chat messages (a `placeholder` row is a chat history slot), variables listed as you type,
    config checked as a JSON object, labels to point at it, a commit message.
    """
    project_id = request.project.pk  # type: ignore[attr-defined]
    name = (request.POST if request.method == "POST" else request.GET).get("name", "").strip()
    prompt = None
    if name:
        try:
            prompt = selectors.prompt_get(project_id=project_id, name=name)
        except PromptError:
            prompt = None  # a new prompt with this name
    errors: dict[str, str] = {}
    if request.method == "POST":
        if not _can(request, Role.MEMBER):
            raise PermissionDenied(f"Creating a prompt version needs the member role; you are {request.role}.")  # type: ignore[attr-defined]
        form = _editor_form_from_post(request.POST, prompt)
        try:
            version = services.prompt_version_create(
                project=request.project,  # type: ignore[attr-defined]
                name=form["name"],
                content=_editor_content(request.POST, form["type"]),
                prompt_type=form["type"],
                config=_editor_config(form["config"]),
                labels=form["labels"],
                commit_message=form["commit_message"][:500],
                tags=form["tags"] if prompt is None else None,
                author=request.user,  # type: ignore[arg-type]
                actor_role=request.role,  # type: ignore[attr-defined]
            )
        except PromptError as error:
            if isinstance(error, PromptForbidden):
                raise PermissionDenied(error.message) from None
            errors[_editor_field(error.field)] = error.message
        else:
            messages.success(request, f"Saved {version.prompt.name} version {version.version}.")
            return redirect(_prompt_url(project_id, version.prompt.name, version=version.version))
    else:
        form = _editor_form_from_version(prompt, request.GET.get("from", ""))
        form["name"] = form["name"] or name
    context = {
        "section": "prompts",
        "prompt": prompt,
        "form": form,
        "errors": errors,
        "roles": EDITOR_ROLES,
        "blank_message": {"role": "user", "content": ""},
        "can_write": _can(request, Role.MEMBER),
        "can_admin": _can(request, Role.ADMIN),
        "variables": variables_detect(form["messages"] if form["type"] == "chat" else form["text"]),
    }
    return render(request, "prompts/editor.html", context, status=400 if errors else 200)


def _editor_field(field: str | None) -> str:
    """Where an error from the service is shown in the editor."""
    if not field:
        return "content"
    for known in ("name", "type", "config", "labels", "tags"):
        if field.startswith(known):
            return known
    return "content"


def _editor_form_from_version(prompt: Any, from_raw: str) -> dict[str, Any]:
    base: PromptVersion | None = None
    if prompt is not None:
        versions = selectors.prompt_versions(prompt=prompt)
        base = versions.filter(version=int(from_raw)).first() if is_digits(from_raw) else versions.first()
    content = base.content if base else ""
    prompt_type = prompt.type if prompt else PromptType.CHAT
    return {
        "name": prompt.name if prompt else "",
        "type": prompt_type,
        "text": content if isinstance(content, str) else "",
        "messages": playground.messages_normalise(content, placeholders=True)
        if isinstance(content, list)
        else [{"role": "system", "content": ""}, {"role": "user", "content": ""}],
        "config": _pretty_json(base.config) if base and base.config else "",
        "labels": [],
        "custom_labels": "",
        "tags": list(prompt.tags) if prompt else [],
        "commit_message": "",
        "from_version": base.version if base else None,
    }


def _editor_form_from_post(data: QueryDict, prompt: Any) -> dict[str, Any]:
    prompt_type = prompt.type if prompt else (PromptType.TEXT if data.get("type") == "text" else PromptType.CHAT)
    roles, contents = data.getlist("role"), data.getlist("content")
    custom = [label.strip() for label in data.get("custom_labels", "").split(",") if label.strip()]
    return {
        "name": prompt.name if prompt else data.get("name", "").strip(),
        "type": prompt_type,
        "text": data.get("text", "").replace("\r\n", "\n"),
        "messages": [{"role": r, "content": c} for r, c in zip(roles, contents, strict=False)],
        "config": data.get("config", ""),
        "labels": list(dict.fromkeys([*data.getlist("labels"), *custom])),
        "custom_labels": data.get("custom_labels", ""),
        "tags": [tag.strip() for tag in data.get("tags", "").split(",") if tag.strip()],
        "commit_message": data.get("commit_message", "").strip(),
        "from_version": data.get("from_version", ""),
    }


def _editor_content(data: QueryDict, prompt_type: str) -> Any:
    if prompt_type == PromptType.TEXT:
        return data.get("text", "").replace("\r\n", "\n")
    return playground.messages_from_form(data, placeholders=True)


def _editor_config(raw: str) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise PromptError(f"Config is not valid JSON: {error}", "config") from None
    if not isinstance(value, dict):
        raise PromptError('Config must be a JSON object, e.g. {"model": "gpt-4o-mini", "temperature": 0.2}.', "config")
    return value


# --- Diff ---------------------------------------------------------------------------------------------


@project_view()
@require_GET
def prompt_diff(request: HttpRequest) -> HttpResponse:
    """Two versions side by side: `?name=&a=<version>&b=<version>` (default: the two newest)."""
    project_id = request.project.pk  # type: ignore[attr-defined]
    try:
        prompt = selectors.prompt_get(project_id=project_id, name=request.GET.get("name", ""))
    except PromptError as error:
        raise Http404(error.message) from None
    options = selectors_pages.prompt_version_options(prompt=prompt)
    numbers = [number for number, _ in options]
    a_raw, b_raw = request.GET.get("a", ""), request.GET.get("b", "")
    b_number = int(b_raw) if is_digits(b_raw) and int(b_raw) in numbers else numbers[0]
    a_default = next((n for n in numbers if n < b_number), b_number)
    a_number = int(a_raw) if is_digits(a_raw) and int(a_raw) in numbers else a_default
    a = selectors.prompt_version_get(prompt=prompt, version=a_number)
    b = selectors.prompt_version_get(prompt=prompt, version=b_number)
    rows = diff.side_by_side(diff.version_text(a), diff.version_text(b))
    added, removed = diff.diff_counts(rows)
    context = {
        "section": "prompts",
        "prompt": prompt,
        "version_options": options,
        "a": a,
        "b": b,
        "rows": rows,
        "added": added,
        "removed": removed,
    }
    return render(request, "prompts/diff.html", context)
