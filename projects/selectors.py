"""Reads for tenancy. Everything a page or API reads about projects goes through here."""

from __future__ import annotations

import hmac
import logging
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import F, QuerySet
from django.http import Http404

from projects.models import ApiKey, Invitation, LLMConnection, Membership, Project, User

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApiPrincipal:
    """Who an API request acts as: one key of one project. `is_authenticated` satisfies DRF."""

    key_id: int
    project_id: int
    organization_id: int
    public_key: str
    secret_hash: str

    is_authenticated = True


def api_key_cache_key(public_key: str) -> str:
    """The key's cache entry: the principal, `{}` for an unknown key; revocation deletes it."""
    return f"apikey:{public_key}"


def api_key_lookup(*, public_key: str) -> ApiPrincipal | None:
    """The active key with this public part: from the cache, else one indexed query.

    The cache is an accelerator only: if Redis is down we fall back to the database, so ingestion
    keeps working.
    """
    try:
        cached = cache.get(api_key_cache_key(public_key))
    except Exception:  # any cache outage degrades to the database
        log.warning("api key cache unavailable", exc_info=True)
        cached = None
    if cached is not None:
        return ApiPrincipal(**cached) if cached else None
    return api_key_load(public_key=public_key)


def api_key_load(*, public_key: str) -> ApiPrincipal | None:
    """The active key from the database (one indexed query), written back to the cache."""
    row = (
        ApiKey.objects.filter(public_key=public_key, revoked_at__isnull=True)
        .values("id", "project_id", "project__organization_id", "public_key", "secret_hash")
        .first()
    )
    principal = (
        ApiPrincipal(
            key_id=row["id"],
            project_id=row["project_id"],
            organization_id=row["project__organization_id"],
            public_key=row["public_key"],
            secret_hash=row["secret_hash"],
        )
        if row
        else None
    )
    try:
        # Unknown keys are cached briefly too ({}), so a flood of bad keys does not reach PostgreSQL.
        cache.set(api_key_cache_key(public_key), asdict(principal) if principal else {}, settings.API_KEY_CACHE_SECONDS)
    except Exception:
        log.warning("api key cache unavailable", exc_info=True)
    return principal


def api_key_cache_forget(*, public_key: str) -> None:
    try:
        cache.delete(api_key_cache_key(public_key))
    except Exception:
        log.warning("api key cache unavailable; revocation relies on the cache timeout", exc_info=True)


# Keys this process has seen valid, by public key. Never trusted alone: a caller that accepts a key from
# here confirms it with `api_key_still_valid` against the cache entry, read in a round trip it makes anyway
# (a prompt fetch's get_many), so revocation, which deletes that entry, still applies at once.
KNOWN_KEYS_MAX = 1024
_known: OrderedDict[str, ApiPrincipal] = OrderedDict()
_known_lock = threading.Lock()


def api_key_known(*, public_key: str) -> ApiPrincipal | None:
    with _known_lock:
        principal = _known.get(public_key)
        if principal is not None:
            _known.move_to_end(public_key)
        return principal


def api_key_remember(*, principal: ApiPrincipal) -> None:
    with _known_lock:
        _known[principal.public_key] = principal
        _known.move_to_end(principal.public_key)
        while len(_known) > KNOWN_KEYS_MAX:
            _known.popitem(last=False)


def api_key_still_valid(*, principal: ApiPrincipal, cached: Any) -> bool:
    """Whether a key taken from this process's memory is still active, given what the cache holds for it now
    (None: absent or unreadable). The cache entry as written means yes; anything else (revoked and deleted,
    expired, evicted, Redis down) is settled by the database, and the cache entry is written again."""
    if cached == asdict(principal):
        return True
    with _known_lock:
        _known.pop(principal.public_key, None)
    fresh = api_key_load(public_key=principal.public_key)
    if fresh is None or fresh != principal:
        return False
    api_key_remember(principal=fresh)
    return True


def secret_matches(*, principal: ApiPrincipal, secret: str) -> bool:
    from projects.services import hash_secret  # the hash function lives with the writes that create keys

    return hmac.compare_digest(principal.secret_hash, hash_secret(secret))


def memberships_for_user(*, user: User) -> QuerySet[Membership]:
    return Membership.objects.filter(user=user).select_related("organization").order_by("organization__name")


def projects_for_user(*, user: User) -> QuerySet[Project]:
    return (
        Project.objects.filter(organization__memberships__user=user)
        .select_related("organization")
        .order_by("organization__name", "name")
    )


def project_for_user(*, user: User, project_id: int) -> tuple[Project, str]:
    """The project and the user's role in its organization, in one query; 404 for anyone else.

    Outsiders get the same 404 as for a project that does not exist, so ids reveal nothing.
    """
    project = (
        Project.objects.filter(pk=project_id, organization__memberships__user=user)
        .select_related("organization")
        .annotate(member_role=F("organization__memberships__role"))
        .first()
    )
    if project is None:
        raise Http404("No such project")
    return project, project.member_role


def organization_members(*, organization_id: int) -> QuerySet[Membership]:
    return Membership.objects.filter(organization_id=organization_id).select_related("user").order_by("user__email")


def organization_open_invitations(*, organization_id: int) -> QuerySet[Invitation]:
    return Invitation.objects.filter(organization_id=organization_id, accepted_at__isnull=True).order_by("-created_at")


def project_api_keys(*, project_id: int) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(project_id=project_id).select_related("created_by").order_by("-created_at")


# --- Added for the pages (projects/views.py). ---


def invitation_for_token(*, token: str) -> Invitation | None:
    return Invitation.objects.select_related("organization", "invited_by").filter(token=token).first()


def user_email_exists(*, email: str) -> bool:
    return User.objects.filter(email__iexact=email.strip()).exists()


def project_llm_connections(*, project_id: int) -> QuerySet[LLMConnection]:
    return LLMConnection.objects.filter(project_id=project_id).select_related("created_by").order_by("name")
