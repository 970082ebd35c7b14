"""Pages for tenancy: sign-in, organizations and projects, project settings, keys, members, invitations.

Views are thin: parse input, call one service or selector, render. Project pages use
`project_view(min_role)`, which sets `request.project` and `request.role` (404 for outsiders, 403 below
the role); POSTs that need more than the page's role check `request.role` themselves. Actions on one
table row answer htmx with the row's `{% partialdef %}` and everyone else with a redirect, so every
form also works without JavaScript.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as PageForbidden
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template import loader
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

from projects import selectors, services
from projects.auth import project_view
from projects.forms import (
    ApiKeyCreateForm,
    EmailAuthenticationForm,
    InvitationForm,
    InvitationSignUpForm,
    OrganizationCreateForm,
    ProjectCreateForm,
    ProjectSettingsForm,
    RoleForm,
)
from projects.models import ApiKey, Invitation, Membership, Project, Role, User

log = logging.getLogger(__name__)

GET_POST = ["GET", "POST"]


class HtmxRequest(HttpRequest):
    htmx: HtmxDetails
    user: User  # type: ignore[assignment]


class ProjectRequest(HtmxRequest):
    """What `project_view` hands a view: the project and the signed-in user's role in its organization."""

    project: Project
    role: str


def _is_admin(role: str) -> bool:
    return Role.rank(role) >= Role.rank(Role.ADMIN)


def _require_admin(request: ProjectRequest, what: str) -> None:
    if not _is_admin(request.role):
        raise PageForbidden(f"Only admins and owners can {what}; you are {request.role}.")


def _bound(request: HttpRequest) -> Any:
    return request.POST if request.method == "POST" else None


# --- Sign-in and landing ---------------------------------------------------------------------------

login_view = auth_views.LoginView.as_view(
    template_name="registration/login.html",
    authentication_form=EmailAuthenticationForm,
    redirect_authenticated_user=True,
)
logout_view = auth_views.LogoutView.as_view()


@require_GET
def home(request: HtmxRequest) -> HttpResponse:
    """The last project this user opened, else their first project, else a form to start an organization."""
    if not request.user.is_authenticated:
        return redirect("login")
    projects = selectors.projects_for_user(user=request.user)
    project_id = None
    remembered = request.session.get("project_id")
    if isinstance(remembered, int):
        project_id = projects.filter(pk=remembered).values_list("pk", flat=True).first()
    if project_id is None:
        project_id = projects.values_list("pk", flat=True).first()
    if project_id is None:
        return redirect("organization-create")
    return redirect("trace-list", project_id)


# --- Organizations and projects --------------------------------------------------------------------


@login_required
@require_http_methods(GET_POST)
def organization_create(request: HtmxRequest) -> HttpResponse:
    form = OrganizationCreateForm(_bound(request))
    if request.method == "POST" and form.is_valid():
        project = services.organization_create_with_project(
            name=form.cleaned_data["name"], project_name=form.cleaned_data["project_name"], owner=request.user
        )
        messages.success(request, f"Welcome to {project.organization.name}. Send your first trace to {project.name}.")
        return redirect("trace-list", project.pk)
    return render(request, "projects/organization_create.html", {"form": form})


@login_required
@require_http_methods(GET_POST)
def project_create(request: HtmxRequest, org_id: int) -> HttpResponse:
    membership = selectors.memberships_for_user(user=request.user).filter(organization_id=org_id).first()
    if membership is None:
        raise Http404("No such organization")
    if not membership.allows(Role.ADMIN):
        raise PageForbidden(f"Only admins and owners can create projects; you are {membership.role}.")
    form = ProjectCreateForm(_bound(request))
    if request.method == "POST" and form.is_valid():
        try:
            project = services.project_create(
                organization=membership.organization, name=form.cleaned_data["name"], actor=request.user
            )
        except services.Conflict as error:
            form.add_error("name", str(error))
        else:
            messages.success(request, f"Created the project {project.name}.")
            return redirect("trace-list", project.pk)
    return render(request, "projects/project_create.html", {"form": form, "organization": membership.organization})


@project_view()
@require_GET
def project_home(request: ProjectRequest) -> HttpResponse:
    return redirect("trace-list", request.project.pk)


# --- Project sections (empty states until their issues land) -------------------------------------


def first_trace_context(request: ProjectRequest) -> dict[str, Any]:
    """What `includes/send_first_trace.html` needs: endpoints, the project's public keys, a copyable snippet."""
    public_keys = list(
        selectors.project_api_keys(project_id=request.project.pk)
        .filter(revoked_at__isnull=True)
        .values_list("public_key", flat=True)[:3]
    )
    return {
        "can_admin": _is_admin(request.role),
        "site_url": settings.SITE_URL,
        "otlp_endpoint": f"{settings.SITE_URL}/api/public/otel",
        "public_keys": public_keys,
        "example_public_key": public_keys[0] if public_keys else "pk-sl-…",
    }


@project_view()
@require_GET
def eval_list(request: ProjectRequest) -> HttpResponse:
    return render(request, "evals/list.html", {"section": "evals"})


@project_view()
@require_GET
def dashboard_list(request: ProjectRequest) -> HttpResponse:
    return render(request, "dashboards/list.html", {"section": "dashboards"})


# --- Project settings: general ---------------------------------------------------------------------


@project_view()
@require_http_methods(GET_POST)
def project_settings(request: ProjectRequest) -> HttpResponse:
    project = request.project
    can_edit = _is_admin(request.role)
    if request.method == "POST":
        _require_admin(request, "change project settings")
        form = ProjectSettingsForm(request.POST)
        if form.is_valid():
            try:
                with transaction.atomic():
                    services.project_update(
                        project=project,
                        name=form.cleaned_data["name"],
                        allowed_origins=form.cleaned_data["allowed_origins"],
                        actor=request.user,
                    )
            except IntegrityError:  # the (organization, lower(name)) unique constraint
                project.refresh_from_db(fields=["name", "allowed_origins"])
                form.add_error("name", f"Another project in {project.organization.name} already has this name.")
            else:
                messages.success(request, "Project settings saved.")
                return redirect("project-settings", project.pk)
    else:
        form = ProjectSettingsForm(
            initial={"name": project.name, "allowed_origins": "\n".join(project.allowed_origins)}
        )
    if not can_edit:
        for field in form.fields.values():
            field.disabled = True
            field.widget.attrs.pop("placeholder", None)  # an empty read-only field must not look filled in
    context = {"section": "settings", "tab": "general", "form": form, "can_edit": can_edit}
    return render(request, "projects/settings_general.html", context)


# --- Project settings: API keys --------------------------------------------------------------------


@project_view(min_role=Role.ADMIN)
@require_http_methods(GET_POST)
def project_keys(request: ProjectRequest) -> HttpResponse:
    """Lists keys; a POST creates one and shows its secret in this response only (never stored or redirected)."""
    form = ApiKeyCreateForm(_bound(request))
    new_key, new_secret = None, None
    if request.method == "POST" and form.is_valid():
        new_key, new_secret = services.api_key_create(
            project=request.project, note=form.cleaned_data["note"], actor=request.user
        )
        form = ApiKeyCreateForm()
    context = {
        "section": "settings",
        "tab": "keys",
        "form": form,
        "keys": selectors.project_api_keys(project_id=request.project.pk),
        "new_key": new_key,
        "new_secret": new_secret,
        "site_url": settings.SITE_URL,
        "otlp_endpoint": f"{settings.SITE_URL}/api/public/otel",
    }
    response = render(request, "projects/settings_keys.html", context)
    if new_secret:
        add_never_cache_headers(response)  # the secret must not survive in any cache
    return response


@project_view(min_role=Role.ADMIN)
@require_http_methods(GET_POST)
def project_key_revoke(request: ProjectRequest, key_id: int) -> HttpResponse:
    key = get_object_or_404(
        ApiKey.objects.select_related("project__organization", "created_by"), pk=key_id, project=request.project
    )
    if request.method == "GET":
        return _confirm(
            request,
            title="Revoke API key",
            message=(
                f"Requests signed with {key.public_key} will be refused at once. "
                "Applications still using it stop sending traces. This cannot be undone."
            ),
            button="Revoke key",
            cancel_url=reverse("project-keys", args=[request.project.pk]),
            tab="keys",
        )
    services.api_key_revoke(api_key=key, actor=request.user)
    if request.htmx:
        return render(request, "projects/settings_keys.html#key-row", {"key": key})
    messages.success(request, f"Revoked {key.public_key}.")
    return redirect("project-keys", request.project.pk)


# --- Project settings: members and invitations -------------------------------------------------------


def _member_context(request: ProjectRequest) -> dict[str, Any]:
    is_owner = request.role == Role.OWNER
    return {
        "section": "settings",
        "tab": "members",
        "can_manage": _is_admin(request.role),
        "is_owner": is_owner,
        "role_choices": Role.choices if is_owner else [c for c in Role.choices if c[0] != Role.OWNER],
        "now": timezone.now(),
        "site_url": settings.SITE_URL,
    }


@project_view()
@require_http_methods(GET_POST)
def project_members(request: ProjectRequest) -> HttpResponse:
    organization = request.project.organization
    context = _member_context(request)
    form = InvitationForm(_bound(request), can_grant_owner=context["is_owner"])
    if request.method == "POST":
        _require_admin(request, "invite members")
        if form.is_valid():
            try:
                invitation = services.invitation_create(
                    organization=organization,
                    email=form.cleaned_data["email"],
                    role=form.cleaned_data["role"],
                    actor=request.user,
                )
            except (services.PermissionDenied, services.Conflict) as error:
                form.add_error("email", str(error))
            else:
                messages.success(
                    request, f"Invitation sent to {invitation.email} as {invitation.get_role_display().lower()}."
                )
                return redirect("project-members", request.project.pk)
    context.update(
        form=form,
        members=selectors.organization_members(organization_id=organization.pk),
        invitations=selectors.organization_open_invitations(organization_id=organization.pk),
    )
    return render(request, "projects/settings_members.html", context)


def _organization_membership(request: ProjectRequest, membership_id: int) -> Membership:
    return get_object_or_404(
        Membership.objects.select_related("user", "organization"),
        pk=membership_id,
        organization_id=request.project.organization_id,
    )


def _member_row(request: ProjectRequest, membership: Membership, error: str = "") -> HttpResponse:
    context = {**_member_context(request), "m": membership, "row_error": error}
    return render(request, "projects/settings_members.html#member-row", context)


@project_view(min_role=Role.ADMIN)
@require_POST
def project_member_role(request: ProjectRequest, membership_id: int) -> HttpResponse:
    membership = _organization_membership(request, membership_id)
    form = RoleForm(request.POST)
    error = ""
    if not form.is_valid():
        error = "Choose one of the roles in the list."
    else:
        try:
            services.membership_change_role(membership=membership, role=form.cleaned_data["role"], actor=request.user)
        except (services.PermissionDenied, services.Conflict) as exc:
            error = str(exc)
    members_url = reverse("project-members", args=[request.project.pk])
    demoted_self = not error and membership.user_id == request.user.pk and not _is_admin(membership.role)
    if request.htmx:
        # Someone who just gave up admin rights must not keep a page full of admin controls.
        return HttpResponseClientRedirect(members_url) if demoted_self else _member_row(request, membership, error)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"{membership.user.display_name} is now {membership.get_role_display().lower()}.")
    return redirect(members_url)


@project_view(min_role=Role.ADMIN)
@require_http_methods(GET_POST)
def project_member_remove(request: ProjectRequest, membership_id: int) -> HttpResponse:
    membership = _organization_membership(request, membership_id)
    organization = membership.organization
    is_self = membership.user_id == request.user.pk
    if request.method == "GET":
        who = "yourself" if is_self else membership.user.display_name
        return _confirm(
            request,
            title=f"Remove {who} from {organization.name}",
            message=(
                f"{membership.user.email} loses access to every project in {organization.name} at once. "
                "You can invite them again later."
            ),
            button="Remove member",
            cancel_url=reverse("project-members", args=[request.project.pk]),
            tab="members",
        )
    try:
        services.membership_remove(membership=membership, actor=request.user)
    except (services.PermissionDenied, services.Conflict) as exc:
        if request.htmx:
            return _member_row(request, membership, str(exc))
        messages.error(request, str(exc))
        return redirect("project-members", request.project.pk)
    if is_self:
        messages.success(request, f"You left {organization.name}.")
        return HttpResponseClientRedirect(reverse("home")) if request.htmx else redirect("home")
    if request.htmx:
        return HttpResponse("")  # the row is swapped for nothing
    messages.success(request, f"Removed {membership.user.email} from {organization.name}.")
    return redirect("project-members", request.project.pk)


@project_view(min_role=Role.ADMIN)
@require_http_methods(GET_POST)
def project_invitation_revoke(request: ProjectRequest, invitation_id: int) -> HttpResponse:
    invitation = get_object_or_404(
        Invitation.objects.select_related("organization"),
        pk=invitation_id,
        organization_id=request.project.organization_id,
        accepted_at__isnull=True,
    )
    if request.method == "GET":
        return _confirm(
            request,
            title="Revoke invitation",
            message=f"The invitation link sent to {invitation.email} stops working.",
            button="Revoke invitation",
            cancel_url=reverse("project-members", args=[request.project.pk]),
            tab="members",
        )
    services.invitation_revoke(invitation=invitation, actor=request.user)
    if request.htmx:
        return HttpResponse("")
    messages.success(request, f"Revoked the invitation for {invitation.email}.")
    return redirect("project-members", request.project.pk)


def _confirm(
    request: ProjectRequest, *, title: str, message: str, button: str, cancel_url: str, tab: str
) -> HttpResponse:
    """A confirmation page for destructive POSTs, for browsers without JavaScript (htmx uses hx-confirm)."""
    context = {
        "section": "settings",
        "tab": tab,
        "title": title,
        "message": message,
        "button": button,
        "cancel_url": cancel_url,
    }
    return render(request, "projects/confirm.html", context)


# --- Invitations -----------------------------------------------------------------------------------


def _organization_landing(request: HtmxRequest, organization_id: int) -> HttpResponse:
    project = selectors.projects_for_user(user=request.user).filter(organization_id=organization_id).first()
    return redirect("trace-list", project.pk) if project else redirect("home")


@require_http_methods(GET_POST)
def invitation_accept(request: HtmxRequest, token: str) -> HttpResponse:
    invitation = selectors.invitation_for_token(token=token)
    if invitation is None:
        return render(request, "projects/invitation_gone.html", {"reason": "unknown"}, status=404)
    if invitation.accepted_at is not None or invitation.expires_at < timezone.now():
        reason = "used" if invitation.accepted_at is not None else "expired"
        return render(
            request, "projects/invitation_gone.html", {"invitation": invitation, "reason": reason}, status=410
        )
    context: dict[str, Any] = {"invitation": invitation}
    if request.user.is_authenticated:
        context["email_matches"] = request.user.email.lower() == invitation.email.lower()
        if request.method == "POST" and context["email_matches"]:
            try:
                services.invitation_accept(invitation=invitation, user=request.user)
            except services.Conflict:
                context["reason"] = "used"
                return render(request, "projects/invitation_gone.html", context, status=410)
            except services.PermissionDenied as error:
                messages.error(request, str(error))
            else:
                messages.success(
                    request,
                    f"You joined {invitation.organization.name} as {invitation.get_role_display().lower()}.",
                )
                return _organization_landing(request, invitation.organization_id)
        return render(request, "projects/invitation_accept.html", context)

    context["login_url"] = f"{reverse('login')}?{urlencode({'next': request.path})}"
    context["has_account"] = selectors.user_email_exists(email=invitation.email)
    if not context["has_account"]:
        form = InvitationSignUpForm(_bound(request), email=invitation.email)
        if request.method == "POST" and form.is_valid():
            try:
                membership = services.invitation_sign_up(
                    invitation=invitation, name=form.cleaned_data["name"], password=form.cleaned_data["password1"]
                )
            except services.Conflict as error:
                form.add_error(None, str(error))
            else:
                auth_login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
                messages.success(
                    request,
                    f"Welcome to {invitation.organization.name}. You joined as "
                    f"{invitation.get_role_display().lower()}.",
                )
                return _organization_landing(request, invitation.organization_id)
        context["form"] = form
    return render(request, "projects/invitation_accept.html", context)


# --- Error pages -----------------------------------------------------------------------------------


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "404.html", status=404)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler403: the reason names the role needed, which is safe to show to a signed-in member."""
    reason = str(exception) if exception is not None and str(exception) else ""
    return render(request, "403.html", {"reason": reason}, status=403)


def server_error(request: HttpRequest) -> HttpResponse:
    # No context processors and no database: the failure may be the database itself.
    try:
        body = loader.get_template("500.html").render()
    except Exception:  # even the template failed (e.g. a missing static manifest): plain text
        log.exception("500.html could not be rendered")
        body = "<!doctype html><title>Server error · Sightline</title><h1>Server error</h1><p>Please try again.</p>"
    return HttpResponse(body, status=500)
