"""Writes for tenancy. Every function takes keyword arguments and records what it changed."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import orjson
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from projects import crypto
from projects.models import (
    ApiKey,
    AuditEvent,
    Invitation,
    LLMConnection,
    Membership,
    Organization,
    Project,
    Role,
    User,
)
from projects.selectors import api_key_cache_forget

INVITATION_DAYS = 7


class PermissionDenied(Exception):
    """The actor may not do this; the message is safe to show."""


class Conflict(Exception):
    """The change would break an invariant (last owner, duplicate name…); the message is safe to show."""


def audit_record(
    *,
    organization: Organization,
    action: str,
    actor: User | None = None,
    actor_api_key: ApiKey | None = None,
    project: Project | None = None,
    target: str = "",
    before: object = None,
    after: object = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        organization=organization,
        project=project,
        actor=actor,
        actor_api_key=actor_api_key,
        action=action,
        target=target,
        before=before,
        after=after,
    )


def user_create(*, email: str, password: str | None, name: str = "") -> User:
    return User.objects.create_user(email=email, password=password, name=name)


@transaction.atomic
def organization_create(*, name: str, owner: User) -> Organization:
    organization = Organization.objects.create(name=name.strip())
    Membership.objects.create(organization=organization, user=owner, role=Role.OWNER)
    audit_record(organization=organization, actor=owner, action="organization.create", target=organization.name)
    return organization


@transaction.atomic
def project_create(*, organization: Organization, name: str, actor: User | None) -> Project:
    name = name.strip()
    if Project.objects.filter(organization=organization, name__iexact=name).exists():
        raise Conflict(f"A project named “{name}” already exists in {organization.name}.")
    project = Project.objects.create(organization=organization, name=name)
    audit_record(organization=organization, project=project, actor=actor, action="project.create", target=name)
    return project


def project_update(*, project: Project, name: str, allowed_origins: list[str], actor: User) -> Project:
    before = {"name": project.name, "allowed_origins": project.allowed_origins}
    project.name = name.strip()
    project.allowed_origins = allowed_origins
    project.save(update_fields=["name", "allowed_origins"])
    audit_record(
        organization=project.organization,
        project=project,
        actor=actor,
        action="project.update",
        target=project.name,
        before=before,
        after={"name": project.name, "allowed_origins": allowed_origins},
    )
    return project


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def api_key_create(*, project: Project, note: str = "", actor: User | None) -> tuple[ApiKey, str]:
    """Returns the key and its secret. The secret is not stored and cannot be shown again."""
    secret = "sk-sl-" + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        project=project,
        public_key="pk-sl-" + secrets.token_urlsafe(18),
        secret_hash=hash_secret(secret),
        secret_hint=secret[-4:],
        note=note.strip()[:200],
        created_by=actor,
    )
    audit_record(
        organization=project.organization, project=project, actor=actor, action="api_key.create", target=key.public_key
    )
    return key, secret


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, actor: User | None) -> ApiKey:
    updated = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    # Forget the cached lookup once the revocation is committed, so the next request sees it.
    transaction.on_commit(lambda: api_key_cache_forget(public_key=api_key.public_key))
    api_key.refresh_from_db()
    if updated:
        audit_record(
            organization=api_key.project.organization,
            project=api_key.project,
            actor=actor,
            action="api_key.revoke",
            target=api_key.public_key,
        )
    return api_key


@transaction.atomic
def invitation_create(*, organization: Organization, email: str, role: str, actor: User) -> Invitation:
    email = email.strip().lower()
    if role == Role.OWNER and not organization.memberships.filter(user=actor, role=Role.OWNER).exists():
        raise PermissionDenied("Only an owner can invite another owner.")
    if Membership.objects.filter(organization=organization, user__email__iexact=email).exists():
        raise Conflict(f"{email} is already a member of {organization.name}.")
    # A new invitation replaces an open one for the same address.
    Invitation.objects.filter(organization=organization, email__iexact=email, accepted_at__isnull=True).delete()
    invitation = Invitation.objects.create(
        organization=organization,
        email=email,
        role=role,
        token=secrets.token_urlsafe(32),
        invited_by=actor,
        expires_at=timezone.now() + timedelta(days=INVITATION_DAYS),
    )
    audit_record(organization=organization, actor=actor, action="invitation.create", target=email, after={"role": role})
    link = settings.SITE_URL + reverse("invitation-accept", args=[invitation.token])
    transaction.on_commit(
        lambda: send_mail(
            subject=f"{actor.display_name} invited you to {organization.name} on Sightline",
            message=(
                f"{actor.display_name} invited you to join {organization.name} on Sightline as {role}.\n\n"
                f"Accept the invitation: {link}\n\nThe link is valid for {INVITATION_DAYS} days."
            ),
            from_email=None,
            recipient_list=[email],
        )
    )
    return invitation


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user: User) -> Membership:
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.accepted_at is not None or invitation.expires_at < timezone.now():
        raise Conflict("This invitation has expired or was already used. Ask for a new one.")
    if user.email.lower() != invitation.email.lower():
        raise PermissionDenied(f"This invitation is for {invitation.email}. Sign in with that address to accept it.")
    membership, _ = Membership.objects.get_or_create(
        organization=invitation.organization, user=user, defaults={"role": invitation.role}
    )
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    audit_record(organization=invitation.organization, actor=user, action="invitation.accept", target=user.email)
    return membership


def _require_owner_left(*, membership: Membership) -> None:
    owners = Membership.objects.select_for_update().filter(organization=membership.organization, role=Role.OWNER)
    if membership.role == Role.OWNER and owners.count() <= 1:
        raise Conflict("An organization needs at least one owner. Make someone else owner first.")


@transaction.atomic
def membership_change_role(*, membership: Membership, role: str, actor: User) -> Membership:
    actor_membership = Membership.objects.get(organization=membership.organization, user=actor)
    if Role.OWNER in (role, membership.role) and actor_membership.role != Role.OWNER:
        raise PermissionDenied("Only an owner can grant or take away the owner role.")
    if role != Role.OWNER:
        _require_owner_left(membership=membership)
    before = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    audit_record(
        organization=membership.organization,
        actor=actor,
        action="membership.role",
        target=membership.user.email,
        before={"role": before},
        after={"role": role},
    )
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor: User) -> None:
    actor_membership = Membership.objects.get(organization=membership.organization, user=actor)
    if membership.role == Role.OWNER and actor_membership.role != Role.OWNER:
        raise PermissionDenied("Only an owner can remove an owner.")
    _require_owner_left(membership=membership)
    audit_record(
        organization=membership.organization,
        actor=actor,
        action="membership.remove",
        target=membership.user.email,
        before={"role": membership.role},
    )
    membership.delete()


def invitations_prune_expired() -> int:
    deleted, _ = Invitation.objects.filter(accepted_at__isnull=True, expires_at__lt=timezone.now()).delete()
    return deleted


# --- Added for the pages (projects/views.py): sign-up by invitation, invitation revocation, first project. ---


@transaction.atomic
def organization_create_with_project(*, name: str, project_name: str, owner: User) -> Project:
    """A new organization owned by `owner` with its first project, both or neither."""
    organization = organization_create(name=name, owner=owner)
    return project_create(organization=organization, name=project_name, actor=owner)


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor: User) -> bool:
    """Deletes an open invitation, so its link stops working. False if it was already used or gone."""
    deleted, _ = Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True).delete()
    if deleted:
        audit_record(
            organization=invitation.organization,
            actor=actor,
            action="invitation.revoke",
            target=invitation.email,
            before={"role": invitation.role},
        )
    return bool(deleted)


@transaction.atomic
def invitation_sign_up(*, invitation: Invitation, name: str, password: str) -> Membership:
    """Creates the account for the invited address and accepts the invitation, both or neither."""
    if User.objects.filter(email__iexact=invitation.email).exists():
        raise Conflict(f"An account for {invitation.email} already exists. Sign in to accept the invitation.")
    user = user_create(email=invitation.email, password=password, name=name.strip())
    return invitation_accept(invitation=invitation, user=user)


# --- LLM connections: provider credentials for the playground and evaluations (projects/llm.py uses them). ---


def _llm_connection_summary(connection: LLMConnection) -> dict[str, object]:
    """What the audit log records: never the key or header values."""
    return {
        "name": connection.name,
        "provider": connection.provider,
        "base_url": connection.base_url,
        "api_version": connection.api_version,
        "api_key_hint": connection.api_key_hint,
        "models": connection.model_names,
        "extra_headers": connection.extra_header_names,
    }


def _llm_connection_name_free(*, project: Project, name: str, exclude_id: int | None = None) -> None:
    others = LLMConnection.objects.filter(project=project, name__iexact=name).exclude(pk=exclude_id)
    if others.exists():
        raise Conflict(f"This project already has an LLM connection named “{name}”.")


def _llm_connection_set_secrets(
    connection: LLMConnection, *, api_key: str | None, extra_headers: dict[str, str] | None
) -> None:
    if api_key is not None:
        connection.api_key_encrypted = crypto.encrypt(api_key)
        connection.api_key_hint = api_key[-4:] if len(api_key) >= 12 else ""  # a short key's tail would give it away
    if extra_headers is not None:
        encoded = orjson.dumps(extra_headers).decode()
        connection.extra_headers_encrypted = crypto.encrypt(encoded) if extra_headers else ""
        connection.extra_header_names = sorted(extra_headers)


@transaction.atomic
def llm_connection_create(
    *,
    project: Project,
    name: str,
    provider: str,
    api_key: str,
    base_url: str = "",
    api_version: str = "",
    model_names: list[str] | None = None,
    extra_headers: dict[str, str] | None = None,
    actor: User | None,
) -> LLMConnection:
    name = name.strip()
    _llm_connection_name_free(project=project, name=name)
    connection = LLMConnection(
        project=project,
        name=name,
        provider=provider,
        base_url=base_url.strip(),
        api_version=api_version.strip(),
        model_names=model_names or [],
        created_by=actor,
    )
    _llm_connection_set_secrets(connection, api_key=api_key.strip(), extra_headers=extra_headers or {})
    connection.save()
    audit_record(
        organization=project.organization,
        project=project,
        actor=actor,
        action="llm_connection.create",
        target=name,
        after=_llm_connection_summary(connection),
    )
    return connection


@transaction.atomic
def llm_connection_update(
    *,
    connection: LLMConnection,
    name: str,
    provider: str,
    base_url: str,
    api_version: str,
    model_names: list[str],
    api_key: str | None = None,
    extra_headers: dict[str, str] | None = None,
    actor: User,
) -> LLMConnection:
    """`api_key=None` and `extra_headers=None` keep the stored ones (they are never shown, so never re-sent)."""
    name = name.strip()
    _llm_connection_name_free(project=connection.project, name=name, exclude_id=connection.pk)
    before = _llm_connection_summary(connection)
    connection.name = name
    connection.provider = provider
    connection.base_url = base_url.strip()
    connection.api_version = api_version.strip()
    connection.model_names = model_names
    _llm_connection_set_secrets(connection, api_key=api_key.strip() if api_key else None, extra_headers=extra_headers)
    connection.save()
    after = _llm_connection_summary(connection)
    if api_key:
        after["api_key_replaced"] = True
    audit_record(
        organization=connection.project.organization,
        project=connection.project,
        actor=actor,
        action="llm_connection.update",
        target=name,
        before=before,
        after=after,
    )
    return connection


@transaction.atomic
def llm_connection_delete(*, connection: LLMConnection, actor: User) -> None:
    audit_record(
        organization=connection.project.organization,
        project=connection.project,
        actor=actor,
        action="llm_connection.delete",
        target=connection.name,
        before=_llm_connection_summary(connection),
    )
    connection.delete()
