"""Authentication for the API (HTTP Basic with a project's key pair) and scoping for pages."""

from __future__ import annotations

import base64
import binascii
import functools
import logging
from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from projects.models import ApiKey, Role
from projects.selectors import ApiPrincipal, api_key_lookup, project_for_user, secret_matches

log = logging.getLogger(__name__)

LAST_USED_RESOLUTION_SECONDS = 60


def parse_basic_auth(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    public, sep, secret = decoded.partition(":")
    return (public, secret) if sep else None


def _touch(principal: ApiPrincipal) -> None:
    """Records last use at most once a minute per key, so ingestion does not write on every request."""
    try:
        first = cache.add(f"apikey-used:{principal.key_id}", 1, LAST_USED_RESOLUTION_SECONDS)
    except Exception:
        return
    if first:
        ApiKey.objects.filter(pk=principal.key_id).update(last_used_at=timezone.now())


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """HTTP Basic `public:secret`, as the Langfuse SDKs and OTLP exporters send it."""

    www_authenticate_realm = "Sightline"

    def authenticate(self, request: Request) -> tuple[ApiPrincipal, ApiPrincipal]:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            raise exceptions.NotAuthenticated(
                "Send HTTP Basic auth with your project's public key as user and secret key as password."
            )
        credentials = parse_basic_auth(header)
        if credentials is None:
            raise exceptions.AuthenticationFailed("Authorization must be HTTP Basic with public_key:secret_key.")
        public_key, secret = credentials
        principal = api_key_lookup(public_key=public_key)
        if principal is None or not secret_matches(principal=principal, secret=secret):
            raise exceptions.AuthenticationFailed("Invalid API key: unknown, revoked, or wrong secret.")
        _touch(principal)
        return principal, principal

    def authenticate_header(self, request: Request) -> str:
        return f'Basic realm="{self.www_authenticate_realm}"'


ViewFunc = Callable[..., HttpResponse]


def project_view(min_role: str = Role.VIEWER) -> Callable[[ViewFunc], ViewFunc]:
    """For pages under /p/<project_id>/: sign-in required, 404 for outsiders, 403 below `min_role`.

    Sets `request.project` and `request.role`; every project page uses this, so no page can forget
    the scope.
    """

    def decorator(view: ViewFunc) -> ViewFunc:
        @login_required
        @functools.wraps(view)
        def wrapper(request: HttpRequest, project_id: int, *args: Any, **kwargs: Any) -> HttpResponse:
            project, role = project_for_user(user=request.user, project_id=project_id)  # type: ignore[arg-type]
            if Role.rank(role) < Role.rank(min_role):
                raise PermissionDenied(f"This needs the {min_role} role; you are {role}.")
            request.project = project  # type: ignore[attr-defined]
            request.role = role  # type: ignore[attr-defined]
            if request.session.get("project_id") != project.pk:  # a same-value write would still save the row
                request.session["project_id"] = project.pk
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
