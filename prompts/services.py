"""Writes for the prompt registry."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Max

from projects.models import Project, User
from prompts.models import Prompt, PromptLabel, PromptVersion


@transaction.atomic
def prompt_version_create(
    *,
    project: Project,
    name: str,
    content: str | list[dict[str, Any]],
    config: dict[str, Any] | None = None,
    labels: list[str] | None = None,
    commit_message: str = "",
    tags: list[str] | None = None,
    author: User | None = None,
) -> PromptVersion:
    """Adds the next version of a prompt (creating the prompt on first use) and points labels at it."""
    prompt_type = "chat" if isinstance(content, list) else "text"
    prompt, _ = Prompt.objects.select_for_update().get_or_create(
        project=project, name=name, defaults={"type": prompt_type, "tags": tags or []}
    )
    latest = prompt.versions.aggregate(latest=Max("version"))["latest"] or 0
    version = PromptVersion.objects.create(
        prompt=prompt,
        version=latest + 1,
        content=content,
        config=config or {},
        commit_message=commit_message,
        author=author,
    )
    for label in labels or []:
        PromptLabel.objects.update_or_create(prompt=prompt, name=label, defaults={"version": version})
    return version
