"""Authentication for the API (HTTP Basic with a project's key pair) and scoping for pages."""

from __future__ import annotations

import base64
import binascii
import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from projects.models import ApiKey, Role
from projects.selectors import (
    ApiPrincipal,
    api_key_cache_key,
    api_key_known,
    api_key_lookup,
    api_key_remember,
    api_key_still_valid,
    project_for_user,
    secret_matches,
)

log = logging.getLogger(__name__)

LAST_USED_RESOLUTION_SECONDS = 60
INVALID_KEY = "Invalid API key: unknown, revoked, or wrong secret."


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


# Key id → when this process last wrote its last_used_at (time.monotonic()).
_last_touched: dict[int, float] = {}
_touch_lock = threading.Lock()


def _touch(principal: ApiPrincipal) -> None:
    """Records last use at most once a minute per key and process, kept in process memory: no cache round
    trip per request (a warm prompt fetch is one round trip in all) and one UPDATE a minute at most."""
    now = time.monotonic()
    with _touch_lock:
        last = _last_touched.get(principal.key_id)
        if last is not None and now - last < LAST_USED_RESOLUTION_SECONDS:
            return
        if len(_last_touched) > 10_000:  # bounded: forgetting only means one early write
            _last_touched.clear()
        _last_touched[principal.key_id] = now
    ApiKey.objects.filter(pk=principal.key_id).update(last_used_at=timezone.now())


def basic_credentials(
    request: Request, *, second: str = "secret key", form: str = "public_key:secret_key"
) -> tuple[str, str]:
    """(public, secret) from HTTP Basic auth, or the 401 that says how to send it: `second` names what goes in the
    password field (the secret key here, nothing for browser feedback), `form` shows it."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header:
        raise exceptions.NotAuthenticated(
            f"Send HTTP Basic auth with your project's public key as user and {second} as password."
        )
    credentials = parse_basic_auth(header)
    if credentials is None:
        raise exceptions.AuthenticationFailed(f"Authorization must be HTTP Basic with {form}.")
    return credentials


@dataclass
class ApiKeyCheck:
    """A key accepted from this process's memory, still to be confirmed against its cache entry.

    The view reads `cache_key` in the cache round trip it makes anyway and passes the value to `check`
    (a prompt fetch: `prompt_resolve(key_check=…)`). `confirm` reads it on its own for any answer that never
    reached that read (an error, OPTIONS); the view calls it as the response is finalised.
    """

    principal: ApiPrincipal
    done: bool = False

    @property
    def cache_key(self) -> str:
        return api_key_cache_key(self.principal.public_key)

    def check(self, cached: Any) -> None:
        """Raises AuthenticationFailed (401) unless the key is still active; records its use if it is."""
        self.done = True
        if not api_key_still_valid(principal=self.principal, cached=cached):
            raise exceptions.AuthenticationFailed(INVALID_KEY)
        _touch(self.principal)

    def confirm(self) -> None:
        if self.done:
            return
        try:
            cached = cache.get(self.cache_key)
        except Exception:  # an outage: the database decides
            log.warning("api key cache unavailable", exc_info=True)
            cached = None
        self.check(cached)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """HTTP Basic `public:secret`, as the Langfuse SDKs and OTLP exporters send it.

    `check_in_view=True` is for a view that answers from one cache round trip (GET of one prompt): a key
    this process has already verified then costs no round trip of its own. `request.auth` is an ApiKeyCheck
    the view must settle in its own cache read, so a revoked key is refused at once, in every process; it is
    None when the key was looked up as usual.
    """

    www_authenticate_realm = "Sightline"

    def __init__(self, *, check_in_view: bool = False) -> None:
        self.check_in_view = check_in_view

    def authenticate(self, request: Request) -> tuple[ApiPrincipal, Any]:
        public_key, secret = basic_credentials(request)
        if self.check_in_view:
            known = api_key_known(public_key=public_key)
            if known is not None and secret_matches(principal=known, secret=secret):
                return known, ApiKeyCheck(principal=known)  # its use is recorded once the check passes
        principal = api_key_lookup(public_key=public_key)
        if principal is None or not secret_matches(principal=principal, secret=secret):
            raise exceptions.AuthenticationFailed(INVALID_KEY)
        api_key_remember(principal=principal)
        _touch(principal)
        return principal, None if self.check_in_view else principal

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
