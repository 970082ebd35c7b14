from __future__ import annotations

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from config import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("projects.api_urls")),
    path("", include("traces.urls")),
    path("", include("projects.urls")),
]

handler403 = "projects.views.permission_denied"
handler404 = "projects.views.page_not_found"
handler500 = "projects.views.server_error"
