"""Ingestion routes (no trailing slash: OTLP exporters append `v1/traces` to their endpoint)."""

from __future__ import annotations

from django.urls import path

from traces import api as traces_api
from traces import views as traces_views
from traces.ingest import views as ingest_views

urlpatterns = [
    path("v1/traces", ingest_views.otlp_traces, name="otlp-traces"),
    path("api/public/otel/v1/traces", ingest_views.otlp_traces, name="otlp-traces-langfuse"),
    path("v1/logs", ingest_views.otlp_logs, name="otlp-logs"),
    path("api/public/otel/v1/logs", ingest_views.otlp_logs, name="otlp-logs-langfuse"),
    path("api/public/ingestion", ingest_views.langfuse_ingestion, name="langfuse-ingestion"),
    path("api/public/scores", ingest_views.langfuse_scores, name="langfuse-scores"),
    path("api/public/models", traces_api.ModelsView.as_view(), name="api-public-models"),
    path("api/public/models/<str:model_id>", traces_api.ModelView.as_view(), name="api-public-model"),
    path("p/<int:project_id>/settings/models/", traces_views.project_models, name="project-models"),
    path(
        "p/<int:project_id>/settings/models/<int:price_id>/delete/",
        traces_views.project_model_delete,
        name="project-model-delete",
    ),
]
