"""Ingestion routes (no trailing slash: OTLP exporters append `v1/traces` to their endpoint)."""

from __future__ import annotations

from django.urls import path

from traces.ingest import views as ingest_views

urlpatterns = [
    path("v1/traces", ingest_views.otlp_traces, name="otlp-traces"),
    path("api/public/otel/v1/traces", ingest_views.otlp_traces, name="otlp-traces-langfuse"),
    path("api/public/ingestion", ingest_views.langfuse_ingestion, name="langfuse-ingestion"),
    path("api/public/scores", ingest_views.langfuse_scores, name="langfuse-scores"),
]
