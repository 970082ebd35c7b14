"""Refusals of the prompt registry; the message is safe to show, `field` names the input at fault."""

from __future__ import annotations


class PromptError(Exception):
    """Bad input (400 in the API): a malformed name, content, label, split or reference."""

    status = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class PromptNotFound(PromptError):
    """No such prompt, version or label in this project (404; another project's prompt is also 404)."""

    status = 404


class PromptForbidden(PromptError):
    """The actor's role does not allow this change (403)."""

    status = 403


class PromptConflict(PromptError):
    """The change would break the registry: a composition cycle, a label another prompt includes (409)."""

    status = 409
