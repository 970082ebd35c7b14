"""Forms for the tenancy pages: they parse and validate input; services do the writes."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm

from projects.models import LLMConnection, LLMProvider, Role, User

MAX_ALLOWED_ORIGINS = 50


class EmailAuthenticationForm(AuthenticationForm):
    """Django's sign-in form with the username field presented (and normalised) as an email address."""

    username = forms.EmailField(
        label="Email",
        max_length=254,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email", "placeholder": "you@example.com"}),
    )

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That email and password don't match an account. Check both and try again.",
    }

    def clean_username(self) -> str:
        return self.cleaned_data["username"].strip().lower()


class OrganizationCreateForm(forms.Form):
    name = forms.CharField(
        label="Organization name",
        max_length=100,
        widget=forms.TextInput(attrs={"autofocus": True, "placeholder": "Acme Inc."}),
        help_text="Usually your company or team. You can invite people to it later.",
    )
    project_name = forms.CharField(
        label="First project",
        max_length=100,
        initial="My first project",
        help_text="A project holds the traces, prompts and evaluations of one application.",
    )


class ProjectCreateForm(forms.Form):
    name = forms.CharField(
        label="Project name",
        max_length=100,
        widget=forms.TextInput(attrs={"autofocus": True, "placeholder": "Support bot"}),
    )


class ProjectSettingsForm(forms.Form):
    name = forms.CharField(label="Project name", max_length=100)
    allowed_origins = forms.CharField(
        label="Feedback allowed origins",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "https://app.example.com\nhttp://localhost:3000"}),
        help_text=(
            "Browser origins that may send user feedback with this project's public key, one per line "
            "(scheme, host and optional port, no path)."
        ),
    )

    def clean_allowed_origins(self) -> list[str]:
        origins: list[str] = []
        for raw in self.cleaned_data["allowed_origins"].splitlines():
            line = raw.strip()
            if not line:
                continue
            origin = _parse_origin(line)
            if origin is None:
                raise forms.ValidationError(
                    f"“{line}” is not an origin. Use scheme://host[:port], e.g. https://app.example.com."
                )
            if origin not in origins:
                origins.append(origin)
        if len(origins) > MAX_ALLOWED_ORIGINS:
            raise forms.ValidationError(f"At most {MAX_ALLOWED_ORIGINS} origins.")
        return origins


def _parse_origin(value: str) -> str | None:
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        return None
    host = parts.hostname.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


class ApiKeyCreateForm(forms.Form):
    note = forms.CharField(
        label="Note",
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "e.g. production backend"}),
        help_text="Where this key is used, so you know what breaks if you revoke it.",
    )


class InvitationForm(forms.Form):
    email = forms.EmailField(
        label="Email address", widget=forms.EmailInput(attrs={"placeholder": "colleague@example.com"})
    )
    role = forms.ChoiceField(label="Role", choices=Role.choices, initial=Role.MEMBER)

    def __init__(self, *args: Any, can_grant_owner: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not can_grant_owner:
            self.fields["role"].choices = [c for c in Role.choices if c[0] != Role.OWNER]

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class InvitationSignUpForm(forms.Form):
    """Creates the account for an invited address: the email comes from the invitation, not the form."""

    name = forms.CharField(label="Your name", max_length=150, widget=forms.TextInput(attrs={"autofocus": True}))
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label="Password again", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def __init__(self, *args: Any, email: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.email = email

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        password1, password2 = cleaned.get("password1"), cleaned.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", "The two passwords don't match.")
        elif password1:
            try:
                password_validation.validate_password(
                    password1, user=User(email=self.email, name=cleaned.get("name", ""))
                )
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return cleaned


HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")


class LLMConnectionForm(forms.Form):
    """An LLM connection. Editing leaves the key and headers blank: blank keeps the stored (never shown) ones."""

    name = forms.CharField(
        label="Name", max_length=100, widget=forms.TextInput(attrs={"placeholder": "e.g. OpenAI production"})
    )
    provider = forms.ChoiceField(label="Provider", choices=LLMProvider.choices, initial=LLMProvider.OPENAI)
    base_url = forms.CharField(
        label="Base URL",
        max_length=500,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "https://api.openai.com/v1", "spellcheck": "false"}),
        help_text="Empty for OpenAI. Azure: https://&lt;resource&gt;.openai.azure.com. "
        "Others: the URL that ends in /v1, e.g. http://localhost:11434/v1 for Ollama.",
    )
    api_version = forms.CharField(
        label="API version",
        max_length=40,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "2024-10-21"}),
        help_text="Azure OpenAI only.",
    )
    api_key = forms.CharField(
        label="API key",
        max_length=1000,
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text="Stored encrypted and never shown again.",
    )
    model_names = forms.CharField(
        label="Models",
        max_length=2000,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "gpt-4o-mini, gpt-4o"}),
        help_text="Comma-separated model names (Azure: deployment names), offered first in the playground.",
    )
    extra_headers = forms.CharField(
        label="Extra headers",
        max_length=4000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "X-Header-Name: value", "spellcheck": "false"}),
        help_text="One “Name: value” per line, sent with every request. Stored encrypted.",
    )
    clear_extra_headers = forms.BooleanField(label="Remove the saved extra headers", required=False)

    def __init__(self, *args: Any, editing: LLMConnection | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.editing = editing
        if editing is None:
            del self.fields["clear_extra_headers"]
            return
        key = self.fields["api_key"]
        key.required = False
        key.help_text = "Leave empty to keep the saved key" + (
            f" (…{editing.api_key_hint})." if editing.api_key_hint else "."
        )
        if editing.extra_header_names:
            self.fields["extra_headers"].help_text = (
                "Leave empty to keep the saved headers (" + ", ".join(editing.extra_header_names) + "), or enter "
                "new ones to replace them."
            )
        else:
            del self.fields["clear_extra_headers"]

    def clean_base_url(self) -> str:
        value = self.cleaned_data["base_url"].strip().rstrip("/")
        if not value:
            return ""
        # Not Django's URLValidator: it refuses hosts without a dot, such as a `vllm:8000` container name.
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError for a malformed port
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise forms.ValidationError(
                "Enter a URL that starts with http:// or https://, e.g. http://localhost:8000/v1."
            )
        return value

    def clean_model_names(self) -> list[str]:
        names: list[str] = []
        for raw in self.cleaned_data["model_names"].replace("\n", ",").split(","):
            name = raw.strip()
            if name and name not in names:
                names.append(name)
        return names

    def clean_extra_headers(self) -> dict[str, str] | None:
        headers: dict[str, str] = {}
        for number, raw in enumerate(self.cleaned_data["extra_headers"].splitlines(), start=1):
            if not raw.strip():
                continue
            name, sep, value = raw.partition(":")
            name, value = name.strip(), value.strip()
            if not sep or not HEADER_NAME.match(name) or not value:
                raise forms.ValidationError(f"Line {number} is not “Name: value”.")
            headers[name] = value
        return headers or None  # None: nothing entered (on edit, keep the saved headers)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        provider = cleaned.get("provider")
        if provider == LLMProvider.AZURE:
            if not cleaned.get("base_url"):
                self.add_error(
                    "base_url", "Azure OpenAI needs the resource endpoint, https://<resource>.openai.azure.com."
                )
            if not cleaned.get("api_version"):
                self.add_error("api_version", "Azure OpenAI needs an API version, e.g. 2024-10-21.")
        elif provider == LLMProvider.OPENAI_COMPATIBLE and not cleaned.get("base_url"):
            self.add_error("base_url", "An OpenAI-compatible server needs its base URL, e.g. http://localhost:8000/v1.")
        if cleaned.get("clear_extra_headers"):
            cleaned["extra_headers"] = {}
        return cleaned
