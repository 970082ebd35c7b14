from __future__ import annotations

from django.urls import path

from projects import api

urlpatterns = [
    path("api/public/projects", api.PublicProjectsView.as_view(), name="api-public-projects"),
    path("api/projects/<int:project_id>/keys", api.ProjectKeysView.as_view(), name="api-project-keys"),
    path("api/projects/<int:project_id>/keys/<int:key_id>", api.ProjectKeyView.as_view(), name="api-project-key"),
]
