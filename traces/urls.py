"""Ingestion routes (no trailing slash: OTLP exporters append `v1/traces` to their endpoint)."""

from __future__ import annotations

from django.urls import path

from traces import api as traces_api
from traces import feedback, public_api, views_prompt_usage, views_scores, views_sessions, views_trace
from traces import views as traces_views
from traces.ingest import views as ingest_views

urlpatterns = [
    path("v1/traces", ingest_views.otlp_traces, name="otlp-traces"),
    path("api/public/otel/v1/traces", ingest_views.otlp_traces, name="otlp-traces-langfuse"),
    path("v1/logs", ingest_views.otlp_logs, name="otlp-logs"),
    path("api/public/otel/v1/logs", ingest_views.otlp_logs, name="otlp-logs-langfuse"),
    path("api/public/ingestion", ingest_views.langfuse_ingestion, name="langfuse-ingestion"),
    # GET lists scores; POST is ingest_views.langfuse_scores, unchanged (ScoresView.post hands it the request).
    path("api/public/scores", public_api.ScoresView.as_view(), name="langfuse-scores"),
    path("api/public/models", traces_api.ModelsView.as_view(), name="api-public-models"),
    path("api/public/models/<str:model_id>", traces_api.ModelView.as_view(), name="api-public-model"),
    path("p/<int:project_id>/settings/models/", traces_views.project_models, name="project-models"),
    path(
        "p/<int:project_id>/settings/models/<int:price_id>/delete/",
        traces_views.project_model_delete,
        name="project-model-delete",
    ),
    path("p/<int:project_id>/prices/estimate", traces_views.price_estimate, name="price-estimate"),
    path("p/<int:project_id>/traces/", traces_views.trace_list, name="trace-list"),
    path("p/<int:project_id>/traces/new", traces_views.trace_list_new, name="trace-list-new"),
    path("p/<int:project_id>/traces/star", traces_views.trace_star, name="trace-star"),
    path("p/<int:project_id>/traces/delete", traces_views.trace_bulk_delete, name="trace-bulk-delete"),
    path("p/<int:project_id>/trace/<path:trace_id>", views_trace.trace_detail, name="trace-detail"),
    path("p/<int:project_id>/observation", views_trace.observation_body, name="observation-body"),
    path("p/<int:project_id>/scores/panel", views_scores.score_panel, name="score-panel"),
    path("p/<int:project_id>/prompts/usage", views_prompt_usage.prompt_usage, name="prompt-usage"),
    path("p/<int:project_id>/sessions/", views_sessions.session_list, name="session-list"),
    path("p/<int:project_id>/session/<path:session_id>", views_sessions.session_detail, name="session-detail"),
    path("p/<int:project_id>/users/", views_sessions.user_list, name="user-list"),
    path("p/<int:project_id>/user/<path:user_id>", views_sessions.user_detail, name="user-detail"),
    path("p/<int:project_id>/settings/scores/", views_scores.project_score_configs, name="project-score-configs"),
    path(
        "p/<int:project_id>/settings/scores/<int:config_id>/archive/",
        views_scores.project_score_config_archive,
        name="project-score-config-archive",
    ),
    # Public read/delete API, score configs and browser feedback (traces/public_api.py, traces/feedback.py).
    path("api/public/traces", public_api.TracesView.as_view(), name="api-public-traces"),
    path("api/public/traces/<path:trace_id>", public_api.TraceView.as_view(), name="api-public-trace"),
    path("api/public/v2/observations", public_api.ObservationsV2View.as_view(), name="api-public-observations-v2"),
    path("api/public/observations", public_api.ObservationsView.as_view(), name="api-public-observations"),
    path(
        "api/public/observations/<path:observation_id>",
        public_api.ObservationView.as_view(),
        name="api-public-observation",
    ),
    path("api/public/scores/<path:score_id>", public_api.ScoreView.as_view(), name="api-public-score"),
    path("api/public/v2/scores", public_api.ScoresV2View.as_view(), name="api-public-scores-v2"),
    path("api/public/v2/scores/<path:score_id>", public_api.ScoreV2View.as_view(), name="api-public-score-v2"),
    path("api/public/v3/scores", public_api.ScoresV3View.as_view(), name="api-public-scores-v3"),
    path("api/public/sessions", public_api.SessionsView.as_view(), name="api-public-sessions"),
    path("api/public/sessions/<path:session_id>", public_api.SessionView.as_view(), name="api-public-session"),
    path("api/public/metrics/daily", public_api.MetricsDailyView.as_view(), name="api-public-metrics-daily"),
    path("api/public/metrics", public_api.MetricsV1View.as_view(), name="api-public-metrics"),
    path("api/public/v2/metrics", public_api.MetricsV2View.as_view(), name="api-public-metrics-v2"),
    path("api/public/score-configs", public_api.ScoreConfigsView.as_view(), name="api-public-score-configs"),
    path(
        "api/public/score-configs/<str:config_id>", public_api.ScoreConfigView.as_view(), name="api-public-score-config"
    ),
    path("api/public/feedback", feedback.FeedbackView.as_view(), name="api-public-feedback"),
]
