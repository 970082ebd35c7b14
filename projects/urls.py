"""Pages (server-rendered). Other apps reverse these names; keep them stable."""

from __future__ import annotations

from django.urls import URLPattern, path

from projects import views, views_llm

urlpatterns: list[URLPattern] = [
    path("", views.home, name="home"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("invite/<str:token>/", views.invitation_accept, name="invitation-accept"),
    path("orgs/new/", views.organization_create, name="organization-create"),
    path("orgs/<int:org_id>/projects/new/", views.project_create, name="project-create"),
    # Everything under /p/<project_id>/ is decorated with project_view(min_role).
    path("p/<int:project_id>/", views.project_home, name="project-home"),
    path("p/<int:project_id>/evals/", views.eval_list, name="eval-list"),
    path("p/<int:project_id>/dashboards/", views.dashboard_list, name="dashboard-list"),
    path("p/<int:project_id>/settings/", views.project_settings, name="project-settings"),
    path("p/<int:project_id>/settings/keys/", views.project_keys, name="project-keys"),
    path(
        "p/<int:project_id>/settings/keys/<int:key_id>/revoke/",
        views.project_key_revoke,
        name="project-key-revoke",
    ),
    path("p/<int:project_id>/settings/members/", views.project_members, name="project-members"),
    path("p/<int:project_id>/settings/llm/", views_llm.project_llm_connections, name="project-llm-connections"),
    path(
        "p/<int:project_id>/settings/llm/<int:connection_id>/",
        views_llm.project_llm_connection_edit,
        name="project-llm-connection-edit",
    ),
    path(
        "p/<int:project_id>/settings/llm/<int:connection_id>/delete/",
        views_llm.project_llm_connection_delete,
        name="project-llm-connection-delete",
    ),
    path(
        "p/<int:project_id>/settings/llm/<int:connection_id>/test/",
        views_llm.project_llm_connection_test,
        name="project-llm-connection-test",
    ),
    path(
        "p/<int:project_id>/settings/members/<int:membership_id>/role/",
        views.project_member_role,
        name="project-member-role",
    ),
    path(
        "p/<int:project_id>/settings/members/<int:membership_id>/remove/",
        views.project_member_remove,
        name="project-member-remove",
    ),
    path(
        "p/<int:project_id>/settings/invitations/<int:invitation_id>/revoke/",
        views.project_invitation_revoke,
        name="project-invitation-revoke",
    ),
]
