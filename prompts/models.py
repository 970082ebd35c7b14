"""The prompt registry: prompts, immutable versions, and labels that serve one version or a weighted split."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from projects.models import Project


class PromptType(models.TextChoices):
    TEXT = "text"
    CHAT = "chat"


class Prompt(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=500, help_text="Folders are written with '/', e.g. support/answer.")
    type = models.CharField(max_length=8, choices=PromptType.choices, default=PromptType.TEXT)
    # Prompt-level, the same for every version (as in Langfuse).
    tags = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set by every service that writes a version or moves a label: the list's `lastUpdatedAt`.
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="prompt_name_unique")]

    def __str__(self) -> str:
        return self.name


class PromptVersion(models.Model):
    """Never changed once written: a new edit is a new version. PostgreSQL enforces it (migration 0003: a
    trigger refuses any UPDATE, except the author set to NULL when that user is deleted)."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    # A string for text prompts; a list of {"role", "content"} or {"type": "placeholder", "name"} for chat.
    content = models.JSONField()
    config = models.JSONField(default=dict, blank=True)
    commit_message = models.CharField(max_length=500, blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    # Derived from `content` when written (prompts.content), kept so lists and editors need not re-parse.
    variables = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    # Other prompts this version includes, [{"name", "label"} | {"name", "version"}], resolved when fetched.
    references = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["prompt", "version"], name="prompt_version_unique")]

    def __str__(self) -> str:
        return f"{self.prompt.name} v{self.version}"


class PromptLabel(models.Model):
    """`production`, `staging`, `latest` (moved by the registry itself) or a custom name.

    `version` is the label's own version: what Langfuse's `labels[]` shows and what the label serves when it
    has no variants. With variants the label is a split: each request is served one variant's version,
    picked by weight (sticky per assignment key); the variants' weights sum to 100.
    """

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="labels")
    name = models.CharField(max_length=100)
    version = models.ForeignKey(PromptVersion, on_delete=models.CASCADE, related_name="labels")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["prompt", "name"], name="prompt_label_unique")]

    def __str__(self) -> str:
        return f"{self.prompt.name}@{self.name}"


class PromptLabelVariant(models.Model):
    """One arm of a split label: serve `version` to `weight` percent of assignment keys."""

    label = models.ForeignKey(PromptLabel, on_delete=models.CASCADE, related_name="variants")
    version = models.ForeignKey(PromptVersion, on_delete=models.CASCADE, related_name="+")
    weight = models.PositiveSmallIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["label", "version"], name="prompt_variant_unique"),
            models.CheckConstraint(
                condition=models.Q(weight__gte=1, weight__lte=100), name="prompt_variant_weight_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} v{self.version_id} {self.weight}%"
