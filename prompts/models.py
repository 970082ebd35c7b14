"""The prompt registry: prompts, immutable versions and labels that point at versions."""

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
    tags = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="prompt_name_unique")]

    def __str__(self) -> str:
        return self.name


class PromptVersion(models.Model):
    """Never changed once written: a new edit is a new version."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    # A string for text prompts; a list of {"role", "content"} or {"type": "placeholder", "name"} for chat.
    content = models.JSONField()
    config = models.JSONField(default=dict, blank=True)
    commit_message = models.CharField(max_length=500, blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["prompt", "version"], name="prompt_version_unique")]

    def __str__(self) -> str:
        return f"{self.prompt.name} v{self.version}"


class PromptLabel(models.Model):
    """`production`, `staging` or a custom name pointing at one version (`latest` is implicit)."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="labels")
    name = models.CharField(max_length=100)
    version = models.ForeignKey(PromptVersion, on_delete=models.CASCADE, related_name="labels")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["prompt", "name"], name="prompt_label_unique")]

    def __str__(self) -> str:
        return f"{self.prompt.name}@{self.name}"
