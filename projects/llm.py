"""Calls to LLM providers through a project's LLM connection: one `openai` client for every provider.

The playground and the evaluations use `client_for` (or `chat_stream`); `connection_check` backs the
"test connection" button. Provider failures become `LLMCallError` with a message a person can act on
(bad key, unreachable, timeout, unknown model), never a stack trace.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import openai
import orjson

from projects import crypto
from projects.models import LLMConnection, LLMProvider

OPENAI_BASE_URL = "https://api.openai.com/v1"
CHECK_TIMEOUT_SECONDS = 10.0
CALL_TIMEOUT_SECONDS = 120.0
# Arguments the client's `chat.completions.create` takes by name; anything else goes in `extra_body`,
# so server-specific options (vLLM's top_k, Ollama's num_ctx) still reach an OpenAI-compatible server.
CHAT_PARAMETERS = frozenset(
    {
        "temperature",
        "max_tokens",
        "max_completion_tokens",
        "top_p",
        "frequency_penalty",
        "presence_penalty",
        "stop",
        "seed",
        "n",
        "response_format",
        "tools",
        "tool_choice",
        "reasoning_effort",
        "logit_bias",
        "user",
    }
)


class LLMCallError(Exception):
    """A provider call failed; the message says why in words a person can act on."""


def connection_api_key(connection: LLMConnection) -> str:
    return crypto.decrypt(connection.api_key_encrypted)


def connection_extra_headers(connection: LLMConnection) -> dict[str, str]:
    if not connection.extra_headers_encrypted:
        return {}
    return orjson.loads(crypto.decrypt(connection.extra_headers_encrypted))


def connection_endpoint(connection: LLMConnection) -> str:
    """Where requests go, for messages and the settings page."""
    if connection.provider == LLMProvider.OPENAI:
        return connection.base_url or OPENAI_BASE_URL
    return connection.base_url


def client_for(
    connection: LLMConnection, *, timeout: float = CALL_TIMEOUT_SECONDS, max_retries: int = 1
) -> openai.OpenAI:
    """An `openai` client for the connection (AzureOpenAI for Azure). Raises LLMCallError if the key is unreadable."""
    try:
        api_key = connection_api_key(connection)
        headers = connection_extra_headers(connection)
    except crypto.SecretUnreadable as error:
        raise LLMCallError(str(error)) from None
    if connection.provider == LLMProvider.AZURE:
        return openai.AzureOpenAI(
            azure_endpoint=connection.base_url,
            api_version=connection.api_version,
            api_key=api_key,
            default_headers=headers or None,
            timeout=timeout,
            max_retries=max_retries,
        )
    return openai.OpenAI(
        base_url=connection_endpoint(connection),
        api_key=api_key,
        default_headers=headers or None,
        timeout=timeout,
        max_retries=max_retries,
    )


def describe_error(error: Exception, *, connection: LLMConnection, model: str = "", timeout: float = 0) -> str:
    """One sentence for a failed provider call, naming the likely fix."""
    endpoint = connection_endpoint(connection)
    host = urlsplit(endpoint).netloc or endpoint
    if isinstance(error, LLMCallError):
        return str(error)
    # APITimeoutError is a kind of APIConnectionError: test it first.
    if isinstance(error, openai.APITimeoutError):
        within = f" within {timeout:g} s" if timeout else ""
        return f"Timed out: {host} did not answer{within}."
    if isinstance(error, openai.APIConnectionError):
        cause = error.__cause__ or error
        return (
            f"Could not reach {endpoint} ({type(cause).__name__}: {cause}). "
            "Check the base URL and that the server is up."
        )
    if isinstance(error, openai.AuthenticationError):
        return f"{host} refused the API key (401 Unauthorized). Check the key and edit the connection."
    if isinstance(error, openai.PermissionDeniedError):
        return f"{host} accepted the key but refused the request (403): {_provider_message(error)}"
    if isinstance(error, openai.NotFoundError):
        what = f"the model or deployment “{model}”" if model else "the base URL"
        return f"{host} answered 404 Not Found: check {what}. {_provider_message(error)}".strip()
    if isinstance(error, openai.RateLimitError):
        return f"{host} is rate-limiting this key or its quota is used up (429): {_provider_message(error)}"
    if isinstance(error, openai.APIStatusError):
        return f"{host} answered {error.status_code}: {_provider_message(error)}"
    if isinstance(error, openai.OpenAIError):
        return f"The call to {host} failed: {error}"
    raise error


def _provider_message(error: openai.APIStatusError) -> str:
    body = error.body
    message = body.get("message") if isinstance(body, dict) else None
    return str(message or error.message)[:300]


@dataclass
class ConnectionCheck:
    ok: bool
    message: str
    models: list[str] = field(default_factory=list)
    latency_ms: int = 0


def connection_check(connection: LLMConnection, *, timeout: float = CHECK_TIMEOUT_SECONDS) -> ConnectionCheck:
    """Lists the models; where the server has no model list (Azure deployments, some proxies), sends a
    1-token completion to the first default model instead."""
    started = time.monotonic()
    model = connection.model_names[0] if connection.model_names else ""

    def elapsed() -> int:
        return round((time.monotonic() - started) * 1000)

    try:
        client = client_for(connection, timeout=timeout, max_retries=0)
        if connection.provider != LLMProvider.AZURE:
            try:
                listed = sorted(m.id for m in client.models.list())
                return ConnectionCheck(True, f"Connected: {len(listed)} models available.", listed, elapsed())
            except openai.NotFoundError:
                if not model:
                    raise
        if not model:
            return ConnectionCheck(False, "Add a default model (an Azure deployment name) so the test can call it.")
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "ping"}], max_tokens=1)
        return ConnectionCheck(True, f"Connected: “{model}” answered a 1-token completion.", [], elapsed())
    except (openai.OpenAIError, LLMCallError) as error:
        return ConnectionCheck(False, describe_error(error, connection=connection, model=model, timeout=timeout))


@dataclass
class StreamPiece:
    """One step of a streamed chat completion: some text, and at the end the usage and finish reason."""

    text: str = ""
    usage: dict[str, int] | None = None
    finish_reason: str | None = None


def chat_stream(
    *,
    connection: LLMConnection,
    model: str,
    messages: list[dict[str, Any]],
    parameters: dict[str, Any],
    timeout: float = CALL_TIMEOUT_SECONDS,
) -> Iterator[StreamPiece]:
    """Streams a chat completion. Raises LLMCallError (with a readable message) when the call fails."""
    known = {k: v for k, v in parameters.items() if k in CHAT_PARAMETERS}
    extra = {k: v for k, v in parameters.items() if k not in CHAT_PARAMETERS and k not in ("model", "stream")}
    try:
        client = client_for(connection, timeout=timeout)
        stream = client.chat.completions.create(
            model=model,
            messages=messages,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
            extra_body=extra or None,
            **known,
        )
        # `with`: a reader that stops early (the browser's Stop) closes the provider's connection too.
        with stream:
            for chunk in stream:
                piece = StreamPiece()
                if chunk.choices:
                    choice = chunk.choices[0]
                    piece.text = (choice.delta.content or "") if choice.delta else ""
                    piece.finish_reason = choice.finish_reason
                if chunk.usage is not None:
                    piece.usage = {
                        "input": chunk.usage.prompt_tokens or 0,
                        "output": chunk.usage.completion_tokens or 0,
                        "total": chunk.usage.total_tokens or 0,
                    }
                if piece.text or piece.usage or piece.finish_reason:
                    yield piece
    except (openai.OpenAIError, LLMCallError) as error:
        raise LLMCallError(describe_error(error, connection=connection, model=model, timeout=timeout)) from None
