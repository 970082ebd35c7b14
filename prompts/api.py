"""Langfuse-compatible prompt API (reference/langfuse-api.md §1.5) plus server-side splits.

Key-authenticated (ApiKeyAuthentication): a key reads and writes its own project's prompts and acts as an
admin there (it may move `production` and edit splits); another project's prompt is 404. Names may hold
folders: `support%2Fanswer` and a raw `support/answer` reach the same prompt.

GET of one prompt answers with an ETag and `Cache-Control: private, no-cache`: clients revalidate with
If-None-Match and get a 304 without a body. A warm fetch costs one cache round trip and no query: its key,
once this process has verified it, is confirmed in the prompt's own cache read
(`ApiKeyAuthentication(check_in_view=True)`), and last use is recorded in process memory.
"""

from __future__ import annotations

import math
from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from projects.api_errors import error_body
from projects.auth import ApiKeyAuthentication, ApiKeyCheck
from projects.models import Project, Role
from prompts import selectors, services
from prompts.content import is_digits
from prompts.errors import PromptError

MAX_LIMIT = 100
MAX_ASSIGNMENT_KEY = 200
CACHE_CONTROL = "private, no-cache"


def _int_param(request: Request, name: str, default: int | None, maximum: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    if not is_digits(raw) or int(raw) < 1 or (maximum is not None and int(raw) > maximum):
        limit = f" up to {maximum}" if maximum else ""
        raise PromptError(f"{name} must be a positive integer{limit}.", name)
    return int(raw)


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise PromptError("Body must be a JSON object.")
    return request.data


def _optional(body: dict[str, Any], key: str, kind: type, what: str) -> Any:
    value = body.get(key)
    if value is not None and not isinstance(value, kind):
        raise PromptError(f"{key} must be {what}.", key)
    return value


def _write_project(request: Request) -> Project:
    return Project.objects.select_related("organization").get(pk=request.user.project_id)


def _actor(request: Request) -> dict[str, Any]:
    # A key acts as an admin within its own project.
    return {"actor_api_key_id": request.user.key_id, "actor_role": Role.ADMIN}


def _version_json(version: Any) -> dict[str, Any]:
    return selectors.prompt_body(version=version, labels=selectors.version_labels(version=version))


class PromptApiView(APIView):
    """Answers the registry's refusals in the one error shape, with their status (400/403/404/409)."""

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, PromptError):
            return Response(error_body(exc.status, exc.message, exc.field), status=exc.status)
        return super().handle_exception(exc)


class PromptsView(PromptApiView):
    @extend_schema(
        operation_id="prompts_list",
        summary="List prompts with their versions, labels and tags (filters: name, label, tag)",
        parameters=[
            OpenApiParameter("name", str),
            OpenApiParameter("label", str),
            OpenApiParameter("tag", str),
            OpenApiParameter("page", int),
            OpenApiParameter("limit", int),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        page = _int_param(request, "page", 1) or 1
        limit = _int_param(request, "limit", 50, MAX_LIMIT) or 50
        params = request.query_params
        result = selectors.prompt_list(
            project_id=request.user.project_id,
            name=params.get("name") or None,
            label=params.get("label") or None,
            tag=params.get("tag") or None,
            page=page,
            limit=limit,
        )
        meta = {"page": page, "limit": limit, "totalItems": result.total, "totalPages": math.ceil(result.total / limit)}
        return Response({"data": result.rows, "meta": meta})

    @extend_schema(
        operation_id="prompts_create",
        summary="Create a new version of a prompt (text or chat); the prompt is created on first use",
        request=OpenApiTypes.OBJECT,
        responses={201: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request) -> Response:
        body = _body(request)
        prompt_type = _optional(body, "type", str, "'text' or 'chat'")
        labels = _optional(body, "labels", list, "a list of strings")
        version = services.prompt_version_create(
            project=_write_project(request),
            name=body.get("name"),  # type: ignore[arg-type]  # validated by the service
            content=body.get("prompt"),  # type: ignore[arg-type]
            prompt_type=prompt_type,
            config=_optional(body, "config", dict, "a JSON object"),
            labels=labels,
            tags=_optional(body, "tags", list, "a list of strings"),
            commit_message=_optional(body, "commitMessage", str, "a string") or "",
            **_actor(request),
        )
        return Response(_version_json(version), status=status.HTTP_201_CREATED)


class PromptView(PromptApiView):
    """A key this process has verified before is accepted from memory and confirmed in the prompt's own cache
    read (`prompt_resolve(key_check=…)`). Any answer that did not reach that read (an error, a 405, OPTIONS)
    confirms it on its own first, so a revoked key gets 401 whatever it asked."""

    key_check: ApiKeyCheck | None = None  # set once authentication has run

    def get_authenticators(self) -> list[ApiKeyAuthentication]:
        return [ApiKeyAuthentication(check_in_view=True)]

    def perform_authentication(self, request: Request) -> None:
        super().perform_authentication(request)
        if isinstance(request.auth, ApiKeyCheck):
            self.key_check = request.auth

    def finalize_response(self, request: Request, response: HttpResponse, *args: Any, **kwargs: Any) -> HttpResponse:
        # Here, not in handle_exception: reading `request.auth` there would run authentication for an error
        # raised before it (406), and a raise from handle_exception is a 500.
        if self.key_check is not None and not self.key_check.done:
            try:
                self.key_check.confirm()
            except AuthenticationFailed as refused:
                response = self.handle_exception(refused)
        return super().finalize_response(request, response, *args, **kwargs)

    @extend_schema(
        operation_id="prompts_get",
        summary="Get a prompt by label (default production) or version; assignmentKey picks a split's arm",
        parameters=[
            OpenApiParameter("label", str),
            OpenApiParameter("version", int),
            OpenApiParameter("assignmentKey", str, description="A user or session id: the same key, same arm."),
            OpenApiParameter("resolve", bool, description="false returns included prompts' tags unresolved."),
        ],
        responses={200: OpenApiTypes.OBJECT, 304: None, 404: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request, name: str) -> HttpResponse:
        params = request.query_params
        version = _int_param(request, "version", None)
        label = params.get("label") or None
        if version is not None and label is not None:
            raise PromptError("Give either version or label, not both.", "label")
        assignment_key = params.get("assignmentKey") or None
        if assignment_key is not None and len(assignment_key) > MAX_ASSIGNMENT_KEY:
            raise PromptError(f"assignmentKey is longer than {MAX_ASSIGNMENT_KEY} characters.", "assignmentKey")
        served = selectors.prompt_resolve(
            project_id=request.user.project_id,
            name=name,
            label=label,
            version=version,
            assignment_key=assignment_key,
            resolve=params.get("resolve", "true").lower() != "false",
            key_check=self.key_check,
        )
        headers = {"ETag": served.etag, "Cache-Control": CACHE_CONTROL}
        if_none_match = request.headers.get("If-None-Match", "")
        # Proxies may weaken an ETag (W/"…"); the body is the same either way.
        offered = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        if "*" in offered or served.etag in offered:
            return HttpResponse(status=status.HTTP_304_NOT_MODIFIED, headers=headers)
        return HttpResponse(served.content, content_type="application/json", headers=headers)


class PromptVersionView(PromptApiView):
    @extend_schema(
        operation_id="prompt_version_update",
        summary="Point labels at this version (newLabels); they move from other versions",
        request=OpenApiTypes.OBJECT,
        responses=OpenApiTypes.OBJECT,
    )
    def patch(self, request: Request, name: str, version: int) -> Response:
        new_labels = _body(request).get("newLabels")
        if not isinstance(new_labels, list):
            raise PromptError("newLabels must be a list of labels.", "newLabels")
        prompt = selectors.prompt_get(project_id=request.user.project_id, name=name)
        row = selectors.prompt_version_get(prompt=prompt, version=version)
        services.prompt_labels_add(version=row, labels=new_labels, **_actor(request))
        return Response(_version_json(row))


class PromptSplitView(PromptApiView):
    """`{"variants": [{"version": 7, "weight": 90}, {"version": 8, "weight": 10}]}` read, set and ended."""

    @extend_schema(operation_id="prompt_split_get", summary="What a label serves", responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, name: str, label: str) -> Response:
        prompt = selectors.prompt_get(project_id=request.user.project_id, name=name)
        return Response(_split_json(prompt, selectors.prompt_label_state(prompt=prompt, label=label)))

    @extend_schema(
        operation_id="prompt_split_set",
        summary="Make a label a weighted split over versions (weights sum to 100)",
        request=OpenApiTypes.OBJECT,
        responses=OpenApiTypes.OBJECT,
    )
    def put(self, request: Request, name: str, label: str) -> Response:
        variants = _body(request).get("variants")
        prompt = selectors.prompt_get(project_id=request.user.project_id, name=name)
        state = services.prompt_split_set(prompt=prompt, label=label, variants=variants, **_actor(request))  # type: ignore[arg-type]
        return Response(_split_json(prompt, state))

    @extend_schema(
        operation_id="prompt_split_delete",
        summary="End a split: the label serves one version (?version=, else its heaviest variant)",
        parameters=[OpenApiParameter("version", int)],
        responses=OpenApiTypes.OBJECT,
    )
    def delete(self, request: Request, name: str, label: str) -> Response:
        version = _int_param(request, "version", None)
        prompt = selectors.prompt_get(project_id=request.user.project_id, name=name)
        state = services.prompt_split_delete(prompt=prompt, label=label, version=version, **_actor(request))
        return Response(_split_json(prompt, state))


def _split_json(prompt: Any, state: selectors.LabelState) -> dict[str, Any]:
    return {"name": prompt.name, **state.as_json()}
