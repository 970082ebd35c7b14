"""Token counts for generations that arrive without usage, when an offline tokenizer covers the model.

Counts are marked as counted (metadata `usage_counted`, naming the encoding), never passed off as the
provider's figures: chat framing follows OpenAI's published rule (3 tokens per message, 1 more for a
`name`, 3 to prime the reply), which is exact for OpenAI's chat models and an estimate elsewhere. A model no
bundled encoding covers keeps its usage unknown (NULL), so the UI says so and nothing is priced.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import quicktok

from traces.services import ObservationIn

# Model name → encoding, first match wins (names as providers and gateways write them: "openai/gpt-4o",
# "gpt-4o-2024-08-06", "meta-llama/Llama-3.1-70B-Instruct").
_ENCODINGS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(^|/)gpt-oss", re.IGNORECASE), "o200k_harmony"),
    (re.compile(r"(^|/)(gpt-4o|chatgpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o1|o3|o4)([-.:]|$)", re.IGNORECASE), "o200k_base"),
    (re.compile(r"(^|/)(gpt-4|gpt-3\.5|text-embedding-3|text-embedding-ada-002)", re.IGNORECASE), "cl100k_base"),
    (re.compile(r"(^|/)(meta-)?llama-?3", re.IGNORECASE), "llama3"),
    (re.compile(r"(^|/)qwen(2\.5|3)", re.IGNORECASE), "qwen3"),
]
_COUNTED_TYPES = frozenset({"GENERATION", "EMBEDDING"})
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3


def encoding_for(model: str) -> str | None:
    for pattern, encoding in _ENCODINGS:
        if pattern.search(model):
            return encoding
    return None


def _text_of(value: Any) -> str:
    """Every string inside a JSON value, space-joined (content parts, tool arguments, documents)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return " ".join(filter(None, (_text_of(v) for v in value.values())))
    if isinstance(value, list):
        return " ".join(filter(None, (_text_of(v) for v in value)))
    return "" if value is None or isinstance(value, bool) else str(value)


def _is_chat(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(m, dict) and "role" in m for m in value)


def tokens_count(value: Any, encoding: str, *, prompt: bool) -> int:
    """Tokens of an input (`prompt`) or output value: chat messages with OpenAI's framing, anything else as text."""
    tokenizer = quicktok.get_encoding(encoding)  # loaded once per process, then cached by quicktok
    if not _is_chat(value):
        return tokenizer.count(_text_of(value))
    total = REPLY_PRIMING if prompt else 0
    for message in value:
        total += TOKENS_PER_MESSAGE if prompt else 0
        for key, part in message.items():
            total += tokenizer.count(_text_of(part))
            if key == "name":
                total += TOKENS_PER_NAME
    return total


def usage_fill(*, observations: Sequence[ObservationIn]) -> int:
    """Counts usage for generations (and embeddings) that have a model, an input or output and an end, but no
    usage; returns how many were counted. One row per id (`services.observations_merge` first), so a Langfuse
    create and its update in one batch are counted together; an observation without its end is not counted
    (its output may still come)."""
    counted = 0
    for obs in observations:
        if obs.usage or obs.type not in _COUNTED_TYPES or obs.end_time is None:
            continue
        has_input, has_output = obs.input not in (None, "", [], {}), obs.output not in (None, "", [], {})
        encoding = encoding_for(obs.model or "")
        if encoding is None or not (has_input or has_output):
            continue
        usage: dict[str, int] = {}
        if has_input:
            usage["input"] = tokens_count(obs.input, encoding, prompt=True)
        if has_output and obs.type == "GENERATION":  # an embedding's output is vectors, not text
            usage["output"] = tokens_count(obs.output, encoding, prompt=False)
        usage["total"] = sum(usage.values())
        obs.usage = usage
        kept = {} if obs.metadata is None else obs.metadata
        if not isinstance(kept, dict):  # a scalar or list the client sent as metadata: kept under a key
            kept = {"metadata": kept}
        obs.metadata = {**kept, "usage_counted": encoding}
        counted += 1
    return counted
