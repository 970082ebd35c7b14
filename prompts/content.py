"""Pure functions over prompt content: validation, `{{variables}}`, placeholders and composition references.

Text content is a string; chat content is a list of `{"role", "content"}` messages and
`{"type": "placeholder", "name"}` entries that `compile()` fills with a list of messages. A version may include
another text prompt with Langfuse's tag `@@@langfusePrompt:name=<name>|label=<label>@@@` (or `|version=<n>`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from prompts.errors import PromptError

VARIABLE = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
REFERENCE = re.compile(r"@@@langfusePrompt:(.*?)@@@")
LABEL = re.compile(r"^[a-z0-9_.-]{1,100}$")
# The API routes `…/{name}/versions/{v}` and `…/{name}/splits/{label}` must stay unambiguous.
_ROUTE_SUFFIX = re.compile(r"/(versions/\d+|splits/[^/]+)$")
MAX_NAME_LENGTH = 500

Content = str | list[dict[str, Any]]


def is_digits(raw: str) -> bool:
    """Whether typed text (a URL or form value) is a whole number int() reads: ASCII digits only, since
    str.isdigit() also passes "²" and other digits that int() refuses (a ValueError, so a 500)."""
    return raw.isascii() and raw.isdigit()


@dataclass(frozen=True)
class Reference:
    """One `@@@langfusePrompt:…@@@` tag: `name` with exactly one of `label` or `version`."""

    tag: str
    name: str
    label: str | None
    version: int | None

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label} if self.label else {"name": self.name, "version": self.version}


def name_validate(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise PromptError("name is required (a string; folders are written with '/').", "name")
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise PromptError(f"name is longer than {MAX_NAME_LENGTH} characters.", "name")
    if name.startswith("/") or name.endswith("/") or "//" in name:
        raise PromptError("name must not start or end with '/' or contain an empty folder ('//').", "name")
    if "|" in name or "@@@" in name:
        raise PromptError("name must not contain '|' or '@@@' (they delimit prompt references).", "name")
    if _ROUTE_SUFFIX.search(name):
        raise PromptError("name must not end with '/versions/<n>' or '/splits/<label>' (API routes).", "name")
    return name


def label_validate(label: Any, field: str = "labels") -> str:
    if not isinstance(label, str) or not LABEL.match(label):
        raise PromptError(
            f"{field}: labels are 1 to 100 characters of lowercase letters, digits, '_', '-' or '.' (got {label!r}).",
            field,
        )
    return label


def content_validate(content: Any, prompt_type: str | None) -> tuple[str, Content]:
    """Checks text or chat content and returns (type, content); the type is inferred when not given."""
    if prompt_type is None:
        prompt_type = "chat" if isinstance(content, list) else "text"
    if prompt_type not in ("text", "chat"):
        raise PromptError("type must be 'text' or 'chat'.", "type")
    if prompt_type == "text":
        if not isinstance(content, str):
            raise PromptError("prompt must be a string for a text prompt.", "prompt")
        return prompt_type, content
    if not isinstance(content, list) or not content:
        raise PromptError("prompt must be a non-empty list of messages for a chat prompt.", "prompt")
    messages: list[dict[str, Any]] = []
    for index, message in enumerate(content):
        field = f"prompt[{index}]"
        if not isinstance(message, dict):
            raise PromptError(f"{field} must be an object.", field)
        if message.get("type") == "placeholder":
            if not isinstance(message.get("name"), str) or not message["name"].strip():
                raise PromptError(f"{field}: a placeholder needs a name (a string).", f"{field}.name")
            messages.append({"type": "placeholder", "name": message["name"]})
            continue
        if not isinstance(message.get("role"), str) or not message["role"].strip():
            raise PromptError(f"{field}: a message needs a role (a string).", f"{field}.role")
        if not isinstance(message.get("content"), str):
            raise PromptError(f"{field}: a message needs content (a string).", f"{field}.content")
        messages.append(message)
    return prompt_type, messages


def content_texts(content: Content) -> list[str]:
    if isinstance(content, str):
        return [content]
    return [m["content"] for m in content if isinstance(m.get("content"), str)]


def variables_detect(content: Content) -> list[str]:
    """`{{variable}}` names in order of first use (what an editor lists and `compile()` fills)."""
    names: list[str] = []
    for text in content_texts(content):
        names.extend(name for name in VARIABLE.findall(text) if name not in names)
    return names


def placeholders_detect(content: Content) -> list[str]:
    if isinstance(content, str):
        return []
    return [m["name"] for m in content if m.get("type") == "placeholder"]


def references_parse(content: Content) -> list[Reference]:
    """The prompts this content includes, in order, each once; a malformed tag is refused."""
    found: dict[str, Reference] = {}
    for text in content_texts(content):
        for match in REFERENCE.finditer(text):
            tag = match.group(0)
            if tag in found:
                continue
            params: dict[str, str] = {}
            for part in match.group(1).split("|"):
                key, sep, value = part.partition("=")
                if not sep or not value.strip():
                    raise PromptError(f"Malformed prompt reference {tag}: expected key=value pairs.", "prompt")
                params[key.strip()] = value.strip()
            name, label, version = params.get("name"), params.get("label"), params.get("version")
            if not name or (label is None) == (version is None):
                raise PromptError(f"Prompt reference {tag} needs name= and one of label= or version=.", "prompt")
            if version is not None and not is_digits(version):
                raise PromptError(f"Prompt reference {tag}: version must be a positive integer.", "prompt")
            found[tag] = Reference(tag=tag, name=name, label=label, version=int(version) if version else None)
    return list(found.values())


def content_substitute(content: Content, replacements: dict[str, str]) -> Content:
    """Replaces each reference tag by the included prompt's resolved text."""
    if not replacements:
        return content

    def fill(text: str) -> str:
        return REFERENCE.sub(lambda match: replacements.get(match.group(0), match.group(0)), text)

    if isinstance(content, str):
        return fill(content)
    return [{**m, "content": fill(m["content"])} if isinstance(m.get("content"), str) else m for m in content]
