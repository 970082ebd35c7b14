"""The playground's input handling and its streamed answer (views.py stays thin).

The editor posts repeated `role`/`content` fields, `variable_name`/`variable_value` pairs, a connection, a
model and parameters. "Open in playground" from a generation posts instead a prefill: `messages` (the
generation's input, in whatever shape the SDK recorded it), `model`, `parameters` and `variables` as JSON.
Both end up as one `PlaygroundState`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from django.http import QueryDict

from projects import llm
from projects.models import LLMConnection
from prompts.content import VARIABLE, variables_detect
from prompts.errors import PromptError

ROLES = ("system", "user", "assistant")
# Parameters with their own inputs; any other parameter is edited as JSON.
NAMED_PARAMETERS = ("temperature", "max_tokens", "top_p")
MAX_MESSAGES = 200
MAX_MESSAGE_CHARS = 200_000


@dataclass
class PlaygroundState:
    messages: list[dict[str, str]] = field(default_factory=lambda: [{"role": "system", "content": ""}])
    variables: dict[str, str] = field(default_factory=dict)
    model: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    connection_id: int | None = None

    @property
    def variable_names(self) -> list[str]:
        return variables_detect(self.messages)  # type: ignore[arg-type]

    @property
    def variable_items(self) -> list[tuple[str, str]]:
        """Each variable the messages use, with its value so far (the editor's rows)."""
        return [(name, self.variables.get(name, "")) for name in self.variable_names]

    @property
    def named_parameters(self) -> dict[str, Any]:
        return {name: self.parameters.get(name) for name in NAMED_PARAMETERS}

    @property
    def other_parameters_json(self) -> str:
        rest = {k: v for k, v in self.parameters.items() if k not in NAMED_PARAMETERS}
        return orjson.dumps(rest, option=orjson.OPT_INDENT_2).decode() if rest else ""

    def compiled_messages(self) -> list[dict[str, str]]:
        """The messages with every `{{variable}}` filled; an unfilled variable is left as written."""

        def fill(text: str) -> str:
            return VARIABLE.sub(lambda m: self.variables.get(m.group(1).strip(), m.group(0)), text)

        return [{"role": m["role"], "content": fill(m["content"])} for m in self.messages]


def _text_of(content: Any) -> str:
    """A message's content as text: strings as they are, content parts joined, anything else as JSON."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            str(part.get("text") or part.get("content") or "") if isinstance(part, dict) else str(part)
            for part in content
        ]
        return "\n".join(part for part in parts if part)
    return orjson.dumps(content, option=orjson.OPT_INDENT_2).decode()


def messages_normalise(raw: Any, *, placeholders: bool = False) -> list[dict[str, str]]:
    """A generation's recorded input as editable chat messages.

    SDKs record a list of messages, `{"messages": [...]}`, a single message, or a plain string (a text
    prompt, which becomes one user message). Roles outside system/user/assistant are kept as written
    (the editor shows them) so nothing is silently changed; `developer` is OpenAI's newer `system`.
    A chat prompt's placeholder is dropped (nothing to replay), or with `placeholders` kept as a row whose
    role is `placeholder` (the version editor's form).
    """
    if isinstance(raw, dict) and isinstance(raw.get("messages"), list):
        raw = raw["messages"]
    if isinstance(raw, dict) and "role" in raw:
        raw = [raw]
    if isinstance(raw, str):
        return [{"role": "user", "content": raw}]
    if not isinstance(raw, list):
        return [{"role": "user", "content": _text_of(raw)}] if raw is not None else []
    messages = []
    for item in raw[:MAX_MESSAGES]:
        if isinstance(item, dict) and item.get("type") == "placeholder":
            if placeholders:
                messages.append({"role": "placeholder", "content": str(item.get("name") or "")})
            continue
        if not isinstance(item, dict):
            messages.append({"role": "user", "content": _text_of(item)})
            continue
        role = str(item.get("role") or "user")
        content = item.get("content")
        if content is None and item.get("tool_calls"):
            # An assistant turn that only called tools: show the calls, so the replay shows what happened.
            content = orjson.dumps(item["tool_calls"], option=orjson.OPT_INDENT_2).decode()
        messages.append({"role": "system" if role == "developer" else role, "content": _text_of(content)})
    return messages


def _json_field(data: QueryDict, name: str, expected: type, default: Any) -> Any:
    raw = data.get(name, "").strip()
    if not raw:
        return default
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise PromptError(f"{name} is not valid JSON: {error}", name) from None
    if value is None:
        return default
    if not isinstance(value, expected):
        raise PromptError(f"{name} must be a JSON {expected.__name__.replace('dict', 'object')}.", name)
    return value


def _number(value: Any) -> Any:
    """Langfuse records model parameters as strings ("0.7"); numbers go back to the API as numbers."""
    if isinstance(value, str):
        for kind in (int, float):
            try:
                return kind(value)
            except ValueError:
                continue
    return value


def state_from_prefill(data: QueryDict) -> PlaygroundState:
    """The POST prefill ("Open in playground"): `messages`, `model`, `parameters`, `variables` (JSON)."""
    messages_raw = _json_field(data, "messages", object, None)
    if isinstance(messages_raw, str):  # a text prompt recorded as a JSON string
        messages_raw = [{"role": "user", "content": messages_raw}]
    parameters = _json_field(data, "parameters", dict, {})
    variables = _json_field(data, "variables", dict, {})
    return PlaygroundState(
        messages=messages_normalise(messages_raw) or PlaygroundState().messages,
        variables={str(k): _text_of(v) for k, v in variables.items()},
        model=data.get("model", "").strip()[:200],
        parameters={str(k): _number(v) for k, v in parameters.items() if v is not None},
    )


def messages_from_form(data: QueryDict, *, placeholders: bool = False) -> list[dict[str, str]]:
    """The repeated `role`/`content` fields of a message editor. With `placeholders`, a row whose role is
    `placeholder` is a chat prompt's `{"type": "placeholder", "name": <content>}` entry."""
    roles, contents = data.getlist("role"), data.getlist("content")
    if len(roles) != len(contents):
        raise PromptError("Every message needs a role and content.", "messages")
    if not roles:
        raise PromptError("Add at least one message.", "messages")
    if len(roles) > MAX_MESSAGES:
        raise PromptError(f"At most {MAX_MESSAGES} messages.", "messages")
    messages: list[dict[str, str]] = []
    for role, content in zip(roles, contents, strict=True):
        role = role.strip()
        if not role:
            raise PromptError("Every message needs a role.", "messages")
        if len(content) > MAX_MESSAGE_CHARS:
            raise PromptError(f"A message is longer than {MAX_MESSAGE_CHARS:,} characters.", "messages")
        if placeholders and role == "placeholder":
            messages.append({"type": "placeholder", "name": content.strip()})
        else:
            messages.append({"role": role, "content": content.replace("\r\n", "\n")})
    return messages


def state_from_editor(data: QueryDict) -> PlaygroundState:
    """The playground's own form. Raises PromptError naming the field at fault."""
    messages = messages_from_form(data)
    parameters = _json_field(data, "parameters", dict, {})
    for name in NAMED_PARAMETERS:
        raw = data.get(name, "").strip()
        if not raw:
            parameters.pop(name, None)
            continue
        value = _number(raw)
        if isinstance(value, str):
            raise PromptError(f"{name} must be a number.", name)
        parameters[name] = value
    connection = data.get("connection", "").strip()
    return PlaygroundState(
        messages=messages,
        variables=dict(zip(data.getlist("variable_name"), data.getlist("variable_value"), strict=False)),
        model=data.get("model", "").strip()[:200],
        parameters=parameters,
        connection_id=int(connection) if connection.isdigit() else None,
    )


def run(*, connection: LLMConnection, state: PlaygroundState) -> Iterator[tuple[str, dict[str, Any]]]:
    """One run as events: `start`, `delta` ({text}) as tokens arrive, then `done` ({usage, latency_ms,
    ttft_ms, finish_reason}) or `error` ({message}). Timing is measured here, around the provider call."""
    started = time.monotonic()
    first_token: float | None = None
    usage: dict[str, int] | None = None
    finish_reason = None
    yield "start", {"model": state.model, "connection": connection.name}
    try:
        for piece in llm.chat_stream(
            connection=connection, model=state.model, messages=state.compiled_messages(), parameters=state.parameters
        ):
            if piece.text:
                if first_token is None:
                    first_token = time.monotonic()
                yield "delta", {"text": piece.text}
            usage = piece.usage or usage
            finish_reason = piece.finish_reason or finish_reason
    except llm.LLMCallError as error:
        yield "error", {"message": str(error)}
        return
    yield (
        "done",
        {
            "usage": usage,
            "latency_ms": round((time.monotonic() - started) * 1000),
            "ttft_ms": round((first_token - started) * 1000) if first_token is not None else None,
            "finish_reason": finish_reason,
        },
    )


def run_sse(*, connection: LLMConnection, state: PlaygroundState) -> Iterator[bytes]:
    """The run as server-sent events, flushed one by one (the page reads them with fetch)."""
    for name, payload in run(connection=connection, state=state):
        yield b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


@dataclass
class RunResult:
    """A whole run, for browsers without JavaScript: the text and the `done` or `error` payload."""

    text: str = ""
    done: dict[str, Any] | None = None
    error: str = ""


def run_collect(*, connection: LLMConnection, state: PlaygroundState) -> RunResult:
    result = RunResult()
    for name, payload in run(connection=connection, state=state):
        if name == "delta":
            result.text += payload["text"]
        elif name == "done":
            result.done = payload
        elif name == "error":
            result.error = payload["message"]
    return result
