"""Tenancy pages through HTTP: rendering, tenant isolation, roles, keys, members, invitations, sign-in."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from projects.models import ApiKey, Invitation, Membership, Project, Role, User
from tests.conftest import PASSWORD, Tenant

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _plain_static_storage(settings: Any) -> None:
    """Pages use {% static %}; without DEBUG the manifest storage needs collectstatic, which tests skip."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def _url(name: str, *args: object) -> str:
    return reverse(name, args=args)


def _messages(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def _set_role(tenant: Tenant, user: User, role: str) -> None:
    Membership.objects.filter(organization=tenant.organization, user=user).update(role=role)


SECTION_PAGES = ["trace-list", "session-list", "user-list", "prompt-list", "eval-list", "dashboard-list"]
SETTINGS_PAGES = ["project-settings", "project-keys", "project-members"]


# --- Rendering ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SECTION_PAGES + SETTINGS_PAGES)
def test_every_project_page_renders_for_the_owner(alice_client: Client, acme: Tenant, name: str) -> None:
    response = alice_client.get(_url(name, acme.project.pk))

    assert response.status_code == 200
    body = response.content.decode()
    assert "Support bot" in body  # the switcher shows the current project
    assert 'aria-current="page"' in body  # the active nav entry is highlighted
    assert "vendor/htmx.min.js" in body
    assert "vendor/plotly.min.js" not in body  # only pages with charts load plotly


@pytest.mark.parametrize("name", ["trace-list", "session-list", "user-list"])
def test_empty_trace_pages_teach_how_to_send_the_first_trace(alice_client: Client, acme: Tenant, name: str) -> None:
    body = alice_client.get(_url(name, acme.project.pk)).content.decode()

    site = django_settings.SITE_URL
    assert f"{site}/api/public/otel" in body
    assert f'LANGFUSE_HOST="{site}"' in body
    assert acme.public_key in body  # the project's active public key is named
    for variable in ("LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        assert variable in body
    assert 'OTEL_EXPORTER_OTLP_HEADERS="Authorization=Basic ' in body
    assert acme.secret_key not in body
    assert "data-copy-target" in body


def test_pages_load_no_third_party_assets(alice_client: Client, acme: Tenant) -> None:
    body = alice_client.get(_url("trace-list", acme.project.pk)).content.decode()

    sources = re.findall(r'(?:src|href)="([^"]+)"', body)
    assert sources
    assert not [s for s in sources if s.startswith(("http:", "https:", "//"))]
    vendor = Path(django_settings.BASE_DIR) / "static" / "vendor"
    assert 'version:"2.' in (vendor / "htmx.min.js").read_text()
    assert (vendor / "plotly.min.js").stat().st_size > 1_000_000


def test_switcher_lists_projects_grouped_by_organization(alice_client: Client, acme: Tenant, alice: User) -> None:
    from projects.services import organization_create_with_project

    other = organization_create_with_project(name="Initech", project_name="Playground", owner=alice)

    body = alice_client.get(_url("trace-list", acme.project.pk)).content.decode()

    assert body.index("Acme") < body.index("Initech")
    assert _url("trace-list", other.pk) in body
    assert _url("project-create", acme.organization.pk) in body  # alice owns Acme: "New project"
    assert _url("organization-create") in body


def test_project_root_redirects_to_traces(alice_client: Client, acme: Tenant) -> None:
    response = alice_client.get(_url("project-home", acme.project.pk))

    assert response.status_code == 302
    assert response.url == _url("trace-list", acme.project.pk)


# --- Tenant isolation: charlie sees nothing of Acme -----------------------------------------------------


def _acme_urls(acme: Tenant, bob: User) -> list[str]:
    pid = acme.project.pk
    key = ApiKey.objects.get(public_key=acme.public_key)
    membership = Membership.objects.get(organization=acme.organization, user=bob)
    invitation = Invitation.objects.create(
        organization=acme.organization,
        email="dave@example.com",
        role=Role.MEMBER,
        token="acme-invitation-token",
        expires_at=timezone.now() + timedelta(days=1),
    )
    return [
        *[_url(name, pid) for name in SECTION_PAGES + SETTINGS_PAGES],
        _url("project-home", pid),
        _url("project-key-revoke", pid, key.pk),
        _url("project-member-role", pid, membership.pk),
        _url("project-member-remove", pid, membership.pk),
        _url("project-invitation-revoke", pid, invitation.pk),
        _url("project-create", acme.organization.pk),
    ]


def test_outsider_gets_404_on_every_acme_page(charlie_client: Client, acme: Tenant, globex: Tenant, bob: User) -> None:
    for url in _acme_urls(acme, bob):
        assert charlie_client.get(url).status_code == 404, url
        assert (
            charlie_client.post(url, {"name": "x", "note": "x", "role": "owner", "email": "x@example.com"}).status_code
            == 404
        ), url

    assert ApiKey.objects.filter(project=acme.project, revoked_at__isnull=True).count() == 1
    assert Membership.objects.filter(organization=acme.organization).count() == 2
    assert Project.objects.get(pk=acme.project.pk).name == "Support bot"
    assert not Invitation.objects.filter(email="x@example.com").exists()


def test_outsider_404_looks_like_a_missing_project(charlie_client: Client, acme: Tenant) -> None:
    theirs = charlie_client.get(_url("trace-list", acme.project.pk))
    missing = charlie_client.get(_url("trace-list", 999_999))

    assert theirs.status_code == missing.status_code == 404
    assert b"This page doesn" in theirs.content


def test_anonymous_visitor_is_sent_to_sign_in(client: Client, acme: Tenant) -> None:
    response = client.get(_url("trace-list", acme.project.pk))

    assert response.status_code == 302
    assert response.url.startswith(_url("login") + "?next=")


# --- Roles ---------------------------------------------------------------------------------------------


def test_member_cannot_manage_keys_or_members(bob_client: Client, acme: Tenant, alice: User) -> None:
    pid = acme.project.pk
    key = ApiKey.objects.get(public_key=acme.public_key)
    alice_membership = Membership.objects.get(organization=acme.organization, user=alice)

    assert bob_client.get(_url("project-keys", pid)).status_code == 403
    assert bob_client.post(_url("project-keys", pid), {"note": "mine"}).status_code == 403
    assert bob_client.post(_url("project-key-revoke", pid, key.pk)).status_code == 403
    assert (
        bob_client.post(_url("project-members", pid), {"email": "eve@example.com", "role": "admin"}).status_code == 403
    )
    assert bob_client.post(_url("project-member-role", pid, alice_membership.pk), {"role": "viewer"}).status_code == 403
    assert bob_client.post(_url("project-member-remove", pid, alice_membership.pk)).status_code == 403
    assert bob_client.post(_url("project-create", acme.organization.pk), {"name": "Side"}).status_code == 403

    assert ApiKey.objects.filter(project=acme.project).count() == 1
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None
    assert Membership.objects.get(pk=alice_membership.pk).role == Role.OWNER
    assert not Invitation.objects.exists()


def test_member_reads_members_page_without_controls(bob_client: Client, acme: Tenant) -> None:
    response = bob_client.get(_url("project-members", acme.project.pk))

    assert response.status_code == 200
    body = response.content.decode()
    assert "alice@example.com" in body
    assert 'name="role"' not in body  # no role selects, no invite form
    assert "Send invitation" not in body
    assert _url("project-keys", acme.project.pk) not in body  # the keys tab is for admins


def test_403_page_names_the_missing_role(bob_client: Client, acme: Tenant) -> None:
    response = bob_client.get(_url("project-keys", acme.project.pk))

    assert response.status_code == 403
    assert b"This needs the admin role; you are member." in response.content
    assert b"app.css" in response.content


def test_viewer_reads_settings_but_cannot_save(bob_client: Client, acme: Tenant, bob: User) -> None:
    _set_role(acme, bob, Role.VIEWER)
    url = _url("project-settings", acme.project.pk)

    page = bob_client.get(url)
    saved = bob_client.post(url, {"name": "Hijacked", "allowed_origins": ""})

    assert page.status_code == 200
    assert b"disabled" in page.content
    assert b"Save changes" not in page.content
    assert saved.status_code == 403
    assert Project.objects.get(pk=acme.project.pk).name == "Support bot"


def test_admin_saves_name_and_allowed_origins(alice_client: Client, acme: Tenant) -> None:
    url = _url("project-settings", acme.project.pk)

    response = alice_client.post(
        url, {"name": " Support assistant ", "allowed_origins": "https://app.example.com/\n\nhttp://LOCALHOST:3000\n"}
    )

    assert response.status_code == 302
    project = Project.objects.get(pk=acme.project.pk)
    assert project.name == "Support assistant"
    assert project.allowed_origins == ["https://app.example.com", "http://localhost:3000"]
    follow = alice_client.get(url)
    assert "Project settings saved." in _messages(follow)
    assert "http://localhost:3000" in follow.content.decode()


def test_settings_reject_bad_origins_and_duplicate_names(alice_client: Client, acme: Tenant, alice: User) -> None:
    from projects.services import project_create

    project_create(organization=acme.organization, name="Search", actor=alice)
    url = _url("project-settings", acme.project.pk)

    bad_origin = alice_client.post(url, {"name": "Support bot", "allowed_origins": "https://example.com/path"})
    duplicate = alice_client.post(url, {"name": "search", "allowed_origins": ""})

    assert bad_origin.status_code == 200
    assert "is not an origin" in bad_origin.content.decode()
    assert duplicate.status_code == 200
    assert "already has this name" in duplicate.content.decode()
    assert Project.objects.get(pk=acme.project.pk).name == "Support bot"


# --- API keys ------------------------------------------------------------------------------------------


def test_created_key_secret_is_shown_once_and_stored_hashed(alice_client: Client, acme: Tenant) -> None:
    url = _url("project-keys", acme.project.pk)

    response = alice_client.post(url, {"note": "production backend"})

    assert response.status_code == 200
    key = ApiKey.objects.get(project=acme.project, note="production backend")
    secret = re.search(r'id="new-secret-key">(sk-sl-[^<]+)<', response.content.decode()).group(1)
    assert key.secret_hash != secret
    assert key.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert key.secret_hint == secret[-4:]
    assert "won" in response.content.decode() or "only time" in response.content.decode()
    assert "no-store" in response["Cache-Control"]

    later = alice_client.get(url).content.decode()
    assert secret not in later
    assert key.public_key in later
    assert f"sk-…{key.secret_hint}" in later


def test_created_key_authenticates_the_api(alice_client: Client, acme: Tenant) -> None:
    import base64

    response = alice_client.post(_url("project-keys", acme.project.pk), {"note": ""})
    body = response.content.decode()
    public = re.search(r'id="new-public-key">(pk-sl-[^<]+)<', body).group(1)
    secret = re.search(r'id="new-secret-key">(sk-sl-[^<]+)<', body).group(1)

    token = base64.b64encode(f"{public}:{secret}".encode()).decode()
    answer = Client().get(_url("api-public-projects"), HTTP_AUTHORIZATION=f"Basic {token}")

    assert answer.status_code == 200
    assert answer.json()["data"][0]["name"] == "Support bot"


def test_revoke_asks_for_confirmation_then_revokes(alice_client: Client, acme: Tenant) -> None:
    key = ApiKey.objects.get(public_key=acme.public_key)
    url = _url("project-key-revoke", acme.project.pk, key.pk)

    confirm = alice_client.get(url)
    revoked = alice_client.post(url)

    assert confirm.status_code == 200
    assert b"Revoke key" in confirm.content
    assert revoked.status_code == 302
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None
    assert f"Revoked {key.public_key}." in _messages(alice_client.get(revoked.url))


def test_revoke_with_htmx_swaps_the_row(alice_client: Client, acme: Tenant) -> None:
    key = ApiKey.objects.get(public_key=acme.public_key)

    response = alice_client.post(_url("project-key-revoke", acme.project.pk, key.pk), **HTMX)

    body = response.content.decode().strip()
    assert response.status_code == 200
    assert body.startswith(f'<tr id="key-{key.pk}"')
    assert "Revoked" in body
    assert "<html" not in body
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None


def test_keys_of_another_project_cannot_be_revoked(alice_client: Client, acme: Tenant, globex: Tenant) -> None:
    foreign = ApiKey.objects.get(public_key=globex.public_key)

    response = alice_client.post(_url("project-key-revoke", acme.project.pk, foreign.pk))

    assert response.status_code == 404
    assert ApiKey.objects.get(pk=foreign.pk).revoked_at is None


# --- Members and invitations ---------------------------------------------------------------------------


def _invitation_path(message: mail.EmailMessage) -> str:
    link = re.search(r"https?://\S+/invite/\S+/", message.body).group(0)
    return urlsplit(link).path


def test_invitation_email_link_signs_up_into_the_organization(
    alice_client: Client, acme: Tenant, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(
            _url("project-members", acme.project.pk), {"email": "Dave@Example.com", "role": "viewer"}
        )

    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["dave@example.com"]
    assert "Acme" in mail.outbox[0].subject
    listing = alice_client.get(response.url)
    assert "Invitation sent to dave@example.com as viewer." in _messages(listing)
    assert "dave@example.com" in listing.content.decode()

    visitor = Client()
    path = _invitation_path(mail.outbox[0])
    form = visitor.get(path)
    assert form.status_code == 200
    assert b"Create account and join" in form.content

    mismatch = visitor.post(path, {"name": "Dave", "password1": "a-long-pass-phrase-1", "password2": "different"})
    assert mismatch.status_code == 200
    assert not User.objects.filter(email="dave@example.com").exists()

    joined = visitor.post(
        path, {"name": "Dave", "password1": "a-long-pass-phrase-1", "password2": "a-long-pass-phrase-1"}
    )
    assert joined.status_code == 302
    assert joined.url == _url("trace-list", acme.project.pk)
    dave = User.objects.get(email="dave@example.com")
    assert Membership.objects.get(organization=acme.organization, user=dave).role == Role.VIEWER
    assert visitor.get(joined.url).status_code == 200  # signed in

    again = Client().get(path)
    assert again.status_code == 410
    assert b"already used" in again.content


def test_existing_user_accepts_invitation_when_signed_in(
    alice_client: Client,
    charlie_client: Client,
    acme: Tenant,
    globex: Tenant,
    charlie: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(_url("project-members", acme.project.pk), {"email": "charlie@example.com", "role": "admin"})
    path = _invitation_path(mail.outbox[0])

    anonymous = Client().get(path)
    assert b"Sign in to accept" in anonymous.content
    assert f"?next={path}".replace("/", "%2F") in anonymous.content.decode()

    page = charlie_client.get(path)
    assert b"Accept invitation" in page.content
    accepted = charlie_client.post(path)

    assert accepted.status_code == 302
    assert accepted.url == _url("trace-list", acme.project.pk)
    assert Membership.objects.get(organization=acme.organization, user=charlie).role == Role.ADMIN
    assert charlie_client.get(_url("project-keys", acme.project.pk)).status_code == 200


def test_invitation_for_someone_else_is_not_accepted(bob_client: Client, acme: Tenant, alice: User, bob: User) -> None:
    from projects.services import invitation_create

    globex_owner = User.objects.create_user(email="erin@example.com", password=PASSWORD)
    invitation = invitation_create(organization=acme.organization, email="erin@example.com", role="member", actor=alice)
    path = _url("invitation-accept", invitation.token)

    page = bob_client.get(path)
    bob_client.post(path)

    assert b"this invitation is for" in page.content
    assert not Membership.objects.filter(organization=acme.organization, user=globex_owner).exists()
    assert Invitation.objects.get(pk=invitation.pk).accepted_at is None


def test_expired_and_unknown_invitations(client: Client, acme: Tenant, alice: User) -> None:
    from projects.services import invitation_create

    invitation = invitation_create(organization=acme.organization, email="late@example.com", role="member", actor=alice)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    expired = client.get(_url("invitation-accept", invitation.token))
    unknown = client.get(_url("invitation-accept", "no-such-token"))
    post_expired = client.post(
        _url("invitation-accept", invitation.token),
        {"name": "Late", "password1": "a-long-pass-phrase-1", "password2": "a-long-pass-phrase-1"},
    )

    assert expired.status_code == 410
    assert b"expired" in expired.content
    assert unknown.status_code == 404
    assert post_expired.status_code == 410
    assert not User.objects.filter(email="late@example.com").exists()


def test_inviting_an_existing_member_is_a_form_error(alice_client: Client, acme: Tenant) -> None:
    response = alice_client.post(
        _url("project-members", acme.project.pk), {"email": "bob@example.com", "role": "member"}
    )

    assert response.status_code == 200
    assert "already a member" in response.content.decode()
    assert not Invitation.objects.exists()


def test_admin_cannot_invite_or_make_owners(bob_client: Client, acme: Tenant, bob: User, alice: User) -> None:
    _set_role(acme, bob, Role.ADMIN)
    alice_membership = Membership.objects.get(organization=acme.organization, user=alice)

    invite = bob_client.post(_url("project-members", acme.project.pk), {"email": "x@example.com", "role": "owner"})
    demote = bob_client.post(_url("project-member-role", acme.project.pk, alice_membership.pk), {"role": "viewer"})

    assert invite.status_code == 200  # "owner" is not among an admin's choices
    assert not Invitation.objects.exists()
    assert demote.status_code == 302
    assert "Only an owner can grant or take away the owner role." in _messages(bob_client.get(demote.url))
    assert Membership.objects.get(pk=alice_membership.pk).role == Role.OWNER


def test_owner_changes_a_role_with_and_without_htmx(alice_client: Client, acme: Tenant, bob: User) -> None:
    membership = Membership.objects.get(organization=acme.organization, user=bob)
    url = _url("project-member-role", acme.project.pk, membership.pk)

    row = alice_client.post(url, {"role": "admin"}, **HTMX)
    assert row.status_code == 200
    assert row.content.decode().strip().startswith(f'<tr id="member-{membership.pk}"')
    assert '<option value="admin" selected>' in row.content.decode()
    assert Membership.objects.get(pk=membership.pk).role == Role.ADMIN

    plain = alice_client.post(url, {"role": "viewer"})
    assert plain.status_code == 302
    assert "Bob is now viewer." in _messages(alice_client.get(plain.url))
    assert Membership.objects.get(pk=membership.pk).role == Role.VIEWER

    invalid = alice_client.post(url, {"role": "emperor"}, **HTMX)
    assert "Choose one of the roles" in invalid.content.decode()


def test_removing_the_last_owner_is_refused_with_a_message(alice_client: Client, acme: Tenant, alice: User) -> None:
    membership = Membership.objects.get(organization=acme.organization, user=alice)
    url = _url("project-member-remove", acme.project.pk, membership.pk)

    plain = alice_client.post(url)
    row = alice_client.post(url, **HTMX)
    demote = alice_client.post(_url("project-member-role", acme.project.pk, membership.pk), {"role": "admin"})

    assert plain.status_code == 302
    assert any("at least one owner" in m for m in _messages(alice_client.get(plain.url)))
    assert row.status_code == 200
    assert "at least one owner" in row.content.decode()
    assert demote.status_code == 302
    assert Membership.objects.get(pk=membership.pk).role == Role.OWNER


def test_owner_removes_a_member(alice_client: Client, acme: Tenant, bob: User, bob_client: Client) -> None:
    membership = Membership.objects.get(organization=acme.organization, user=bob)
    url = _url("project-member-remove", acme.project.pk, membership.pk)

    confirm = alice_client.get(url)
    removed = alice_client.post(url, **HTMX)

    assert confirm.status_code == 200
    assert b"Remove member" in confirm.content
    assert removed.status_code == 200
    assert removed.content == b""
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert bob_client.get(_url("trace-list", acme.project.pk)).status_code == 404


def test_admin_revokes_an_open_invitation(alice_client: Client, acme: Tenant, alice: User) -> None:
    from projects.services import invitation_create

    invitation = invitation_create(organization=acme.organization, email="gone@example.com", role="member", actor=alice)
    url = _url("project-invitation-revoke", acme.project.pk, invitation.pk)

    response = alice_client.post(url)

    assert response.status_code == 302
    assert not Invitation.objects.filter(pk=invitation.pk).exists()
    assert Client().get(_url("invitation-accept", invitation.token)).status_code == 404


def test_members_page_queries_do_not_grow_with_members(
    client: Client, globex: Tenant, charlie: User, django_assert_max_num_queries: Any
) -> None:
    from projects.services import invitation_create

    client.force_login(charlie)
    url = _url("project-members", globex.project.pk)
    invitation_create(organization=globex.organization, email="first@example.com", role="member", actor=charlie)
    client.get(url)  # warm up the session
    with CaptureQueriesContext(connection) as one_member:
        assert client.get(url).status_code == 200

    for n in range(19):
        user = User.objects.create_user(email=f"user{n}@example.com", password=None, name=f"User {n}")
        Membership.objects.create(organization=globex.organization, user=user, role=Role.MEMBER)
        invitation_create(
            organization=globex.organization, email=f"invitee{n}@example.com", role="viewer", actor=charlie
        )
    assert Membership.objects.filter(organization=globex.organization).count() == 20

    with django_assert_max_num_queries(len(one_member)):
        response = client.get(url)
    assert response.status_code == 200
    assert response.content.decode().count('class="avatar"') >= 20


# --- Sign-in, home, organizations and projects ----------------------------------------------------------


def test_sign_in_with_wrong_password_shows_an_error(client: Client, alice: User) -> None:
    response = client.post(_url("login"), {"username": "alice@example.com", "password": "wrong"})

    assert response.status_code == 200
    assert "don&#x27;t match an account" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_sign_in_by_email_lands_on_the_project(client: Client, acme: Tenant) -> None:
    response = client.post(_url("login"), {"username": " Alice@Example.COM ", "password": PASSWORD}, follow=True)

    assert response.redirect_chain[-1][0] == _url("trace-list", acme.project.pk)
    assert response.status_code == 200


def test_sign_in_honours_next(client: Client, acme: Tenant) -> None:
    target = _url("project-members", acme.project.pk)
    response = client.post(
        f"{_url('login')}?next={target}", {"username": "alice@example.com", "password": PASSWORD, "next": target}
    )

    assert response.status_code == 302
    assert response.url == target


def test_sign_out_is_a_post(alice_client: Client, acme: Tenant) -> None:
    assert alice_client.get(_url("logout")).status_code == 405

    response = alice_client.post(_url("logout"))

    assert response.status_code == 302
    assert response.url == _url("login")
    assert alice_client.get(_url("trace-list", acme.project.pk)).status_code == 302


def test_home_redirects(client: Client, alice_client: Client, acme: Tenant, alice: User, bob: User) -> None:
    from projects.services import organization_create_with_project

    second = organization_create_with_project(name="Initech", project_name="Zeta", owner=alice)

    assert client.get(_url("home")).url == _url("login")
    assert alice_client.get(_url("home")).url == _url("trace-list", acme.project.pk)  # first project
    alice_client.get(_url("trace-list", second.pk))  # remembered in the session
    assert alice_client.get(_url("home")).url == _url("trace-list", second.pk)

    Membership.objects.filter(organization=second.organization).delete()  # no longer a member there
    assert alice_client.get(_url("home")).url == _url("trace-list", acme.project.pk)

    loner = User.objects.create_user(email="loner@example.com", password=PASSWORD)
    lone_client = Client()
    lone_client.force_login(loner)
    assert lone_client.get(_url("home")).url == _url("organization-create")


def test_create_organization_with_its_first_project(client: Client, db: None) -> None:
    newcomer = User.objects.create_user(email="new@example.com", password=PASSWORD)
    client.force_login(newcomer)

    form = client.get(_url("organization-create"))
    blank = client.post(_url("organization-create"), {"name": "  ", "project_name": "App"})
    response = client.post(_url("organization-create"), {"name": "Hooli", "project_name": "Nucleus"})

    assert form.status_code == 200
    assert blank.status_code == 200
    assert b"This field is required" in blank.content
    project = Project.objects.get(name="Nucleus")
    assert project.organization.name == "Hooli"
    assert Membership.objects.get(organization=project.organization, user=newcomer).role == Role.OWNER
    assert response.url == _url("trace-list", project.pk)


def test_create_project_in_an_organization(alice_client: Client, acme: Tenant) -> None:
    url = _url("project-create", acme.organization.pk)

    assert alice_client.get(url).status_code == 200
    duplicate = alice_client.post(url, {"name": "support BOT"})
    created = alice_client.post(url, {"name": "Search"})

    assert duplicate.status_code == 200
    assert "already exists" in duplicate.content.decode()
    project = Project.objects.get(organization=acme.organization, name="Search")
    assert created.url == _url("trace-list", project.pk)


# --- Error pages -----------------------------------------------------------------------------------------


def test_unknown_url_renders_the_product_404(alice_client: Client, acme: Tenant) -> None:
    response = alice_client.get("/no/such/page/")

    assert response.status_code == 404
    assert b"This page doesn" in response.content
    assert b"app.css" in response.content


def test_server_error_page_needs_no_database(rf: Any) -> None:
    """No `db` fixture: any query would raise, so rendering proves the page needs no database."""
    from projects.views import server_error

    response = server_error(rf.get("/"))

    assert response.status_code == 500
    assert b"Something went wrong" in response.content
    assert b"app.css" in response.content
