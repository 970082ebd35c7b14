"""Langfuse's prompt paths, without trailing slashes; the specific routes come before the catch-all name."""

from __future__ import annotations

from django.urls import path

from prompts import api, views

urlpatterns = [
    path("api/public/v2/prompts", api.PromptsView.as_view(), name="api-prompts"),
    path(
        "api/public/v2/prompts/<path:name>/versions/<int:version>",
        api.PromptVersionView.as_view(),
        name="api-prompt-version",
    ),
    path(
        "api/public/v2/prompts/<path:name>/splits/<str:label>", api.PromptSplitView.as_view(), name="api-prompt-split"
    ),
    path("api/public/v2/prompts/<path:name>", api.PromptView.as_view(), name="api-prompt"),
    # Pages (prompts/views.py). A prompt's name may hold "/" (folders), so it ends the path or is a query param.
    path("p/<int:project_id>/prompts/", views.prompt_list, name="prompt-list"),
    path("p/<int:project_id>/prompt/<path:name>", views.prompt_detail, name="prompt-detail"),
    path("p/<int:project_id>/prompts/editor/", views.prompt_editor, name="prompt-editor"),
    path("p/<int:project_id>/prompts/diff/", views.prompt_diff, name="prompt-diff"),
    path("p/<int:project_id>/prompts/labels/", views.prompt_label_action, name="prompt-label-action"),
    path("p/<int:project_id>/prompts/playground/", views.prompt_playground, name="prompt-playground"),
    path("p/<int:project_id>/prompts/playground/run", views.prompt_playground_run, name="prompt-playground-run"),
    path("p/<int:project_id>/prompts/playground/save", views.prompt_playground_save, name="prompt-playground-save"),
]
