"""Foundation journeys in a real browser: sign in, switch project, settings, keys, members, theme.

Each journey saves a screenshot to /tmp/e2e-<journey>.png for a look at the design.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from django.core import mail

from projects.models import ApiKey, Membership, Role
from projects.services import hash_secret, invitation_create, project_create
from tests.conftest import PASSWORD, Tenant
from tests.e2e.conftest import assert_only_local_requests, sign_in_as

pytestmark = pytest.mark.e2e

SCREENSHOTS = Path(tempfile.gettempdir())  # /tmp/e2e-<journey>.png


def test_sign_in_switch_project_and_manage_keys_and_members(
    e2e_page: Any, live_server: Any, acme: Tenant, alice: Any, bob: Any
) -> None:
    page = e2e_page
    website = project_create(organization=acme.organization, name="Website", actor=alice)

    # Sign in with email and password: the product lands on the first project.
    page.goto("/")
    assert page.url.endswith("/login/")
    page.fill("input[name=username]", "alice@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**/p/{acme.project.pk}/traces/")
    assert page.get_by_role("heading", name="Traces", exact=True).is_visible()

    # Switch project with the switcher.
    page.click("summary[aria-label='Switch project']")
    page.get_by_role("menuitem", name="Website").click()
    page.wait_for_url(f"**/p/{website.pk}/traces/")
    assert "Website" in page.inner_text(".switcher-trigger")

    # Open settings, then API keys; create a key and see its secret once.
    page.get_by_role("link", name=re.compile("^Settings")).click()
    page.wait_for_url(f"**/p/{website.pk}/settings/")
    page.get_by_role("link", name="API keys").click()
    page.fill("input[name=note]", "e2e backend")
    page.get_by_role("button", name="Create key").click()
    secret = page.inner_text("#new-secret-key").strip()
    assert secret.startswith("sk-sl-")
    key = ApiKey.objects.get(project=website, note="e2e backend")
    assert key.secret_hash == hash_secret(secret) != secret
    page.screenshot(path=SCREENSHOTS / "e2e-key-created.png", full_page=True)

    page.goto(f"/p/{website.pk}/settings/keys/")
    assert secret not in page.content()

    # Revoke it: htmx asks for confirmation, then swaps the row.
    page.once("dialog", lambda dialog: dialog.accept())
    row = page.locator(f"#key-{key.pk}")
    row.get_by_role("link", name="Revoke").click()
    page.locator(f"#key-{key.pk} .badge-red").wait_for()
    assert "Revoked" in page.inner_text(f"#key-{key.pk}")
    key.refresh_from_db()
    assert key.revoked_at is not None

    # Members: change bob's role in place (htmx on change), then invite someone.
    page.get_by_role("link", name="Members").click()
    bob_membership = Membership.objects.get(organization=acme.organization, user=bob)
    with page.expect_response(re.compile(r"/role/$")):
        page.select_option(f"#member-{bob_membership.pk} select[name=role]", "admin")
    bob_membership.refresh_from_db()
    assert bob_membership.role == Role.ADMIN
    page.fill("input[name=email]", "dave@example.com")
    page.select_option("select#id_role", "viewer")
    page.get_by_role("button", name="Send invitation").click()
    page.get_by_text("Invitation sent to dave@example.com as viewer.").wait_for()
    assert "dave@example.com" in page.inner_text("#invitations-table")
    assert [m.to for m in mail.outbox] == [["dave@example.com"]]
    page.screenshot(path=SCREENSHOTS / "e2e-members.png", full_page=True)

    assert_only_local_requests(page)


def test_dark_theme_persists_and_shortcuts_navigate(e2e_page: Any, live_server: Any, acme: Tenant, alice: Any) -> None:
    page = e2e_page
    sign_in_as(page, alice, live_server.url)
    page.emulate_media(color_scheme="light")
    page.goto(f"/p/{acme.project.pk}/traces/")
    assert page.get_attribute("html", "data-theme") is None

    page.click("[data-theme-toggle]")
    assert page.get_attribute("html", "data-theme") == "dark"
    page.reload()
    assert page.get_attribute("html", "data-theme") == "dark"
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(14, 16, 20)"

    # "g" then "s" jumps to Sessions; the nav marks it as the current page.
    page.keyboard.press("g")
    page.keyboard.press("s")
    page.wait_for_url(f"**/p/{acme.project.pk}/sessions/")
    assert page.get_attribute("html", "data-theme") == "dark"
    assert page.locator("nav.sidebar [aria-current=page]").inner_text().startswith("Sessions")
    page.screenshot(path=SCREENSHOTS / "e2e-dark-theme.png", full_page=True)

    page.click("[data-theme-toggle]")
    page.reload()
    assert page.get_attribute("html", "data-theme") == "light"

    assert_only_local_requests(page)


def test_invited_person_signs_up_and_lands_in_the_project(
    e2e_page: Any, live_server: Any, acme: Tenant, alice: Any
) -> None:
    page = e2e_page
    invitation = invitation_create(organization=acme.organization, email="erin@example.com", role="member", actor=alice)

    page.goto(f"/invite/{invitation.token}/")
    assert "Join Acme" in page.inner_text("h1")
    page.fill("input[name=name]", "Erin")
    page.fill("input[name=password1]", "violet-harbour-lantern-42")
    page.fill("input[name=password2]", "violet-harbour-lantern-42")
    page.screenshot(path=SCREENSHOTS / "e2e-invitation.png", full_page=True)
    page.get_by_role("button", name="Create account and join").click()
    page.wait_for_url(f"**/p/{acme.project.pk}/traces/")
    page.get_by_text("Welcome to Acme").wait_for()
    assert Membership.objects.get(organization=acme.organization, user__email="erin@example.com").role == Role.MEMBER
    page.screenshot(path=SCREENSHOTS / "e2e-first-trace.png", full_page=True)

    assert_only_local_requests(page)


def test_switcher_works_from_the_keyboard(e2e_page: Any, live_server: Any, acme: Tenant, alice: Any) -> None:
    page = e2e_page
    other = project_create(organization=acme.organization, name="Website", actor=alice)
    sign_in_as(page, alice, live_server.url)
    page.goto(f"/p/{acme.project.pk}/traces/")

    page.focus("summary[aria-label='Switch project']")
    page.keyboard.press("Enter")
    page.keyboard.press("ArrowDown")  # the current project
    page.keyboard.press("ArrowDown")  # Website
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/p/{other.pk}/traces/")

    page.keyboard.press("Escape")
    assert page.locator("details.switcher[open]").count() == 0
    assert_only_local_requests(page)
