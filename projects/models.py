"""Tenancy: users, organizations, memberships with roles, projects, API keys, invitations, audit log."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.db.models.functions import Lower


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("email is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractUser):
    """Signs in with an email address; there is no separate username."""

    username = None  # type: ignore[assignment]
    email = models.EmailField(unique=True)
    name = models.CharField(max_length=150, blank=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []
    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    def __str__(self) -> str:
        return self.email

    @property
    def display_name(self) -> str:
        return self.name or self.email


class Role(models.TextChoices):
    # Ordered from least to most privilege; `Role.rank` compares them.
    VIEWER = "viewer", "Viewer"
    MEMBER = "member", "Member"
    ADMIN = "admin", "Admin"
    OWNER = "owner", "Owner"

    @classmethod
    def rank(cls, role: str) -> int:
        return [choice.value for choice in cls].index(role)


class Organization(models.Model):
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "user"], name="membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} as {self.role}"

    def allows(self, role: str) -> bool:
        return Role.rank(self.role) >= Role.rank(role)


class Project(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=100)
    # Browser origins allowed to call the feedback API with this project's public key.
    allowed_origins = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("name"), "organization", name="project_name_unique_in_org"),
        ]

    def __str__(self) -> str:
        return self.name


class ApiKey(models.Model):
    """A key pair: the public part identifies the key, the secret is stored only as a SHA-256 hash.

    Secrets are 32 random bytes, so a fast hash is enough (there is nothing to brute-force) and
    keeps the check cheap on every ingestion request.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="api_keys")
    public_key = models.CharField(max_length=64, unique=True)
    secret_hash = models.CharField(max_length=64)
    secret_hint = models.CharField(max_length=16, help_text="The secret's last characters, to tell keys apart.")
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.public_key

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Invitation(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    token = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                Lower("email"), "organization", condition=models.Q(accepted_at__isnull=True), name="invitation_open"
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} to {self.organization}"


class AuditEvent(models.Model):
    """Who changed what and when: keys, members, roles, deletions, prompt rollouts."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="audit_events")
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=64)
    target = models.CharField(max_length=255, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "-created_at"], name="audit_org_time")]

    def __str__(self) -> str:
        return f"{self.action} {self.target}"


class LLMProvider(models.TextChoices):
    OPENAI = "openai", "OpenAI"
    AZURE = "azure", "Azure OpenAI"
    OPENAI_COMPATIBLE = "openai-compatible", "OpenAI-compatible (vLLM, Ollama, LiteLLM…)"


class LLMConnection(models.Model):
    """A project's credentials for an OpenAI-compatible API, used by the playground and evaluations.

    The API key (and extra headers, which often carry credentials too) are stored Fernet-encrypted
    (`projects.crypto`); only the key's last characters are kept in clear, to tell connections apart.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="llm_connections")
    name = models.CharField(max_length=100)
    provider = models.CharField(max_length=20, choices=LLMProvider.choices, default=LLMProvider.OPENAI)
    base_url = models.URLField(max_length=500, blank=True, help_text="Empty means the provider's default.")
    api_version = models.CharField(max_length=40, blank=True, help_text="Azure OpenAI only, e.g. 2024-10-21.")
    api_key_encrypted = models.TextField()
    api_key_hint = models.CharField(max_length=8, blank=True)
    extra_headers_encrypted = models.TextField(blank=True)
    extra_header_names = models.JSONField(default=list, blank=True)
    model_names = models.JSONField(default=list, blank=True, help_text="Model (Azure: deployment) names offered first.")
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("name"), "project", name="llm_connection_name_unique"),
        ]

    def __str__(self) -> str:
        return self.name
