from __future__ import annotations

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from config import health
from traces import public_api_docs

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", public_api_docs.api_docs, name="api-docs"),  # self-hosted: Redoc would load from a CDN
    path("", include("projects.api_urls")),
    path("", include("traces.urls")),
    path("", include("prompts.urls")),
    path("", include("projects.urls")),
]

handler403 = "projects.views.permission_denied"
handler404 = "projects.views.page_not_found"
handler500 = "projects.views.server_error"
