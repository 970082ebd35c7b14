"""The playground's input handling and its streamed answer (views.py stays thin).

The editor posts repeated `role`/`content` fields, `variable_name`/`variable_value` pairs, a connection, a
model and parameters. A chat prompt's placeholder is a row whose role is `placeholder` and content its name,
with a `placeholder_fill` (a JSON list of messages, or empty) per placeholder row: Save keeps the placeholder,
Run sends the fill in its place (nothing when empty). "Open in playground" from a generation posts instead a
prefill: `messages` (the generation's input, in whatever shape the SDK recorded it), `model`, `parameters`
and `variables` as JSON, and `prompt_name`/`prompt_version` when the generation recorded its prompt (then
`version_match` recovers the variables). Both end up as one `PlaygroundState`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
from django.http import QueryDict

from projects import llm
from projects.models import LLMConnection
from prompts.content import VARIABLE, Content, is_digits, variables_detect
from prompts.errors import PromptError

ROLES = ("system", "user", "assistant")
PLACEHOLDER = "placeholder"  # the role of a placeholder row; its content is the placeholder's name
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
    # One per placeholder row, in order: a JSON list of messages as typed, or "" (left out of a run).
    placeholder_fills: list[str] = field(default_factory=list)

    @property
    def variable_names(self) -> list[str]:
        return variables_detect([m for m in self.messages if m["role"] != PLACEHOLDER])  # type: ignore[arg-type]

    @property
    def message_rows(self) -> list[tuple[dict[str, str], str | None]]:
        """Each message with its fill: the placeholder rows' JSON, None for the others (the editor's rows)."""
        fills = iter(self.placeholder_fills)
        return [(m, next(fills, "") if m["role"] == PLACEHOLDER else None) for m in self.messages]

    @property
    def content(self) -> list[dict[str, str]]:
        """The messages as a chat prompt stores them: placeholder rows become `{"type": "placeholder"}`."""
        return [
            {"type": PLACEHOLDER, "name": m["content"].strip()} if m["role"] == PLACEHOLDER else m
            for m in self.messages
        ]

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
        """The messages with every `{{variable}}` filled (an unfilled one is left as written) and each
        placeholder replaced by its fill's messages, as given (none when the fill is empty)."""

        def fill(text: str) -> str:
            return VARIABLE.sub(lambda m: self.variables.get(m.group(1).strip(), m.group(0)), text)

        compiled: list[dict[str, str]] = []
        for message, fill_json in self.message_rows:
            if fill_json is None:
                compiled.append({"role": message["role"], "content": fill(message["content"])})
            else:
                compiled.extend(placeholder_messages(fill_json))
        return compiled

    def with_content(self, content: Content) -> PlaygroundState:
        """The same state over other messages of the same shape (e.g. with included prompts resolved)."""
        rows = messages_normalise(content, placeholders=True)
        return replace(self, messages=rows)


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


def placeholder_messages(raw: str, field_name: str = "placeholder_fill") -> list[dict[str, str]]:
    """A placeholder's fill: a JSON list of messages (any shape `messages_normalise` reads), "" for none."""
    if not raw.strip():
        return []
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise PromptError(f"A placeholder's messages are not valid JSON: {error}", field_name) from None
    if not isinstance(value, list):
        raise PromptError(
            'A placeholder is filled with a JSON list of messages: [{"role": …, "content": …}].', field_name
        )
    return messages_normalise(value)


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
    fills = [fill.replace("\r\n", "\n") for fill in data.getlist("placeholder_fill")]
    slots = [m for m in messages if m["role"] == PLACEHOLDER]
    if len(fills) != len(slots):
        raise PromptError("Every placeholder row needs its messages field (it may be empty).", "placeholder_fill")
    for index, (message, fill) in enumerate(zip(slots, fills, strict=True)):
        if not message["content"].strip():
            raise PromptError("A placeholder needs a name.", "messages")
        placeholder_messages(fill, f"placeholder_fill[{index}]")  # refused now, not half-way through a run
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
        connection_id=int(connection) if is_digits(connection) else None,
        placeholder_fills=fills,
    )


# --- "Open in playground" on a generation that recorded its prompt ---------------------------------------

MAX_MATCH_STEPS = 10_000  # the alignment and each message's text match are a search: bounded, then no match


def _text_match(parts: list[str], text: str, known: dict[str, str], budget: list[int]) -> dict[str, str] | None:
    """The variables (`known` plus new ones) under which `parts` spell `text` exactly, shortest values first,
    or None. `parts` is a template split at its variables (`VARIABLE.split`): literal, name, literal, …, literal.

    A search by hand, depth first with a stack, rather than a regex of `.*?` groups: such a regex backtracks
    without bound on a long message that does not match, and here every step counts against `budget`. A task
    is (i, at, since, values): match the literal `parts[i]` at `at` (since None), or try the next end, from
    `since` on, of the variable after `parts[i]` whose value starts at `at`."""
    stack: list[tuple[int, int, int | None, dict[str, str]]] = [(0, 0, None, known)]
    while stack:
        budget[0] -= 1
        if budget[0] < 0:
            return None
        i, at, since, values = stack.pop()
        if since is not None:
            end = text.find(parts[i + 2], since)
            if end != -1:
                stack.append((i, at, end + 1, values))  # a longer value, should this one lead nowhere
                stack.append((i + 2, end, None, {**values, parts[i + 1].strip(): text[at:end]}))
            continue
        if not text.startswith(parts[i], at):
            continue
        at += len(parts[i])
        if i + 1 == len(parts):
            if at == len(text):
                return values
            continue
        name = parts[i + 1].strip()
        if name in values:  # a variable seen before takes the same value again
            if text.startswith(values[name], at):
                stack.append((i + 2, at + len(values[name]), None, values))
        elif i + 3 == len(parts):  # the last variable runs up to the closing literal
            end = len(text) - len(parts[i + 2])
            if end >= at:
                stack.append((i + 2, end, None, {**values, name: text[at:end]}))
        else:
            stack.append((i, at, at, values))
    return None


def _align(
    template: list[dict[str, str]], recorded: list[dict[str, str]], known: dict[str, str], budget: list[int]
) -> tuple[dict[str, str], list[list[dict[str, str]]]] | None:
    """The variables and placeholder fills under which `template` compiles to exactly `recorded`, or None."""
    budget[0] -= 1
    if budget[0] < 0:
        return None
    if not template:
        return (known, []) if not recorded else None
    head, rest = template[0], template[1:]
    if head["role"] == PLACEHOLDER:  # takes any run of messages, shortest first
        for taken in range(len(recorded) + 1):
            found = _align(rest, recorded[taken:], known, budget)
            if found is not None:
                return found[0], [recorded[:taken], *found[1]]
        return None
    if not recorded or recorded[0]["role"] != head["role"]:
        return None
    matched = _text_match(VARIABLE.split(head["content"]), recorded[0]["content"], known, budget)
    return None if matched is None else _align(rest, recorded[1:], matched, budget)


def version_match(
    *, state: PlaygroundState, rows: list[dict[str, str]], composed: list[dict[str, str]]
) -> PlaygroundState | None:
    """A prefill (a generation's recorded messages, model, parameters) opened on the prompt version it used:
    `rows` are the version's messages as the editor shows them (`{{variables}}`, placeholder rows, included
    prompts' tags) and `composed` the same with included prompts resolved. The recorded messages are matched
    against `composed`, message by message; on success the state shows `rows` with the variables and
    placeholder fills recovered, so that a run sends exactly the recorded messages. None when they differ.
    """
    found = _align(composed, state.messages, {}, [MAX_MATCH_STEPS])
    if found is None:
        return None
    variables, fills = found
    opened = replace(
        state,
        messages=rows,
        variables=variables,
        placeholder_fills=[orjson.dumps(taken, option=orjson.OPT_INDENT_2).decode() for taken in fills],
    )
    # A last check, on the compiled result itself: anything else is not a faithful replay.
    if replace(opened, messages=composed).compiled_messages() != state.messages:
        return None
    return opened


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
