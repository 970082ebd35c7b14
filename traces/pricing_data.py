"""Built-in model prices (ModelPrice rows with project NULL), read by the data migrations.

These are the providers' public **list prices** as published on their pricing pages, as of **2025-10**
(standard tier, pay-as-you-go, no batch/flex/priority discounts, prompts within the base context tier:
e.g. Claude Sonnet 4.5 and Gemini 2.5 Pro charge more above 200k input tokens, which is not modelled).
Hosted open models have no single list price: DeepSeek's are DeepSeek's own API, Llama and Qwen are
Together AI's serverless prices. Prices here are USD per **1M tokens** for readability; the rows store
USD per token (÷ 1e6, computed exactly with Decimal).

Usage types (traces.services.ObservationIn.usage): `input` (not cached), `cache_read` (cached input read),
`cache_write` (cache creation), `output` (not reasoning), `reasoning`. A type left out falls back at
pricing time: cache_read/cache_write → input, reasoning → output (traces.pricing).

Keep this list append-only in spirit: a price change is a NEW entry with a later `effective_from` (and a
new data migration that loads it), never an edit of a shipped entry, so old traces keep their old price.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

# The first built-in rows apply from here, so traces older than this list are priced too.
BUILTIN_EFFECTIVE_FROM = datetime(2024, 1, 1, tzinfo=UTC)

# Suffixes shared by the patterns below.
_OPENAI = r"(?i)^(openai/|azure/)?"
_DATED = r"(-\d{4}-\d{2}-\d{2})?$"  # OpenAI snapshots: gpt-4o-mini-2024-07-18
_ANTHROPIC = r"(?i)^(anthropic/|((us|eu|apac|global)\.)?anthropic\.)?"
# Anthropic snapshots and aliases: -20250514, -latest, Vertex @20250514, Bedrock -v1:0.
_CLAUDE_SUFFIX = r"(-\d{8}|@\d{8}|-latest)?(-v\d+(:\d+)?)?$"
_GOOGLE = r"(?i)^(google/|models/|gemini/|vertex_ai/)?"
_GEMINI_SUFFIX = r"(-\d{3}|-latest|-preview(-\d{2}-\d{2})?)?$"
_MISTRAL = r"(?i)^(mistral/|mistralai/)?"
_MISTRAL_SUFFIX = r"(-latest|-\d{4})?$"


def _row(model_name: str, pattern: str, **per_million: str) -> dict[str, Any]:
    return {"model_name": model_name, "match_pattern": pattern, "per_million": per_million}


# (model_name, anchored case-insensitive pattern, USD per 1M tokens by usage type)
BUILTIN_PRICES: list[dict[str, Any]] = [
    # --- OpenAI (reasoning tokens are billed as output; no cache-write charge) ---
    _row("gpt-5", _OPENAI + r"gpt-5" + _DATED, input="1.25", cache_read="0.125", output="10.00"),
    _row("gpt-5-mini", _OPENAI + r"gpt-5-mini" + _DATED, input="0.25", cache_read="0.025", output="2.00"),
    _row("gpt-5-nano", _OPENAI + r"gpt-5-nano" + _DATED, input="0.05", cache_read="0.005", output="0.40"),
    _row("gpt-4.1", _OPENAI + r"gpt-4\.1" + _DATED, input="2.00", cache_read="0.50", output="8.00"),
    _row("gpt-4.1-mini", _OPENAI + r"gpt-4\.1-mini" + _DATED, input="0.40", cache_read="0.10", output="1.60"),
    _row("gpt-4.1-nano", _OPENAI + r"gpt-4\.1-nano" + _DATED, input="0.10", cache_read="0.025", output="0.40"),
    _row("gpt-4o", _OPENAI + r"gpt-4o" + _DATED, input="2.50", cache_read="1.25", output="10.00"),
    _row("gpt-4o-mini", _OPENAI + r"gpt-4o-mini" + _DATED, input="0.15", cache_read="0.075", output="0.60"),
    _row("o3", _OPENAI + r"o3" + _DATED, input="2.00", cache_read="0.50", output="8.00"),
    _row("o4-mini", _OPENAI + r"o4-mini" + _DATED, input="1.10", cache_read="0.275", output="4.40"),
    _row("o1", _OPENAI + r"o1" + _DATED, input="15.00", cache_read="7.50", output="60.00"),
    _row("text-embedding-3-small", _OPENAI + r"text-embedding-3-small$", input="0.02"),
    _row("text-embedding-3-large", _OPENAI + r"text-embedding-3-large$", input="0.13"),
    # --- Anthropic (cache_write = 5-minute cache writes; extended thinking is billed as output) ---
    _row(
        "claude-opus-4-1",
        _ANTHROPIC + r"claude-opus-4-1" + _CLAUDE_SUFFIX,
        input="15.00",
        cache_read="1.50",
        cache_write="18.75",
        output="75.00",
    ),
    _row(
        "claude-opus-4",
        _ANTHROPIC + r"claude-(opus-4(-0)?|4-opus)" + _CLAUDE_SUFFIX,
        input="15.00",
        cache_read="1.50",
        cache_write="18.75",
        output="75.00",
    ),
    _row(
        "claude-sonnet-4-5",
        _ANTHROPIC + r"claude-sonnet-4-5" + _CLAUDE_SUFFIX,
        input="3.00",
        cache_read="0.30",
        cache_write="3.75",
        output="15.00",
    ),
    _row(
        "claude-sonnet-4",
        _ANTHROPIC + r"claude-(sonnet-4(-0)?|4-sonnet)" + _CLAUDE_SUFFIX,
        input="3.00",
        cache_read="0.30",
        cache_write="3.75",
        output="15.00",
    ),
    _row(
        "claude-3-7-sonnet",
        _ANTHROPIC + r"claude-3-7-sonnet" + _CLAUDE_SUFFIX,
        input="3.00",
        cache_read="0.30",
        cache_write="3.75",
        output="15.00",
    ),
    _row(
        "claude-haiku-4-5",
        _ANTHROPIC + r"claude-haiku-4-5" + _CLAUDE_SUFFIX,
        input="1.00",
        cache_read="0.10",
        cache_write="1.25",
        output="5.00",
    ),
    _row(
        "claude-3-5-haiku",
        _ANTHROPIC + r"claude-3-5-haiku" + _CLAUDE_SUFFIX,
        input="0.80",
        cache_read="0.08",
        cache_write="1.00",
        output="4.00",
    ),
    # --- Google Gemini API (text input; thinking tokens are billed as output; cache_read = context caching) ---
    _row(
        "gemini-2.5-pro",
        _GOOGLE + r"gemini-2\.5-pro" + _GEMINI_SUFFIX,
        input="1.25",
        cache_read="0.125",
        output="10.00",
    ),
    _row(
        "gemini-2.5-flash",
        _GOOGLE + r"gemini-2\.5-flash" + _GEMINI_SUFFIX,
        input="0.30",
        cache_read="0.03",
        output="2.50",
    ),
    _row(
        "gemini-2.5-flash-lite",
        _GOOGLE + r"gemini-2\.5-flash-lite" + _GEMINI_SUFFIX,
        input="0.10",
        cache_read="0.01",
        output="0.40",
    ),
    _row(
        "gemini-2.0-flash",
        _GOOGLE + r"gemini-2\.0-flash" + _GEMINI_SUFFIX,
        input="0.10",
        cache_read="0.025",
        output="0.40",
    ),
    # --- Mistral (La Plateforme) ---
    _row("mistral-large", _MISTRAL + r"mistral-large" + _MISTRAL_SUFFIX, input="2.00", output="6.00"),
    _row("mistral-medium", _MISTRAL + r"mistral-medium(-3)?" + _MISTRAL_SUFFIX, input="0.40", output="2.00"),
    _row("mistral-small", _MISTRAL + r"mistral-small" + _MISTRAL_SUFFIX, input="0.10", output="0.30"),
    _row("codestral", _MISTRAL + r"codestral" + _MISTRAL_SUFFIX, input="0.30", output="0.90"),
    # --- Hosted open models ---
    _row(
        "llama-3.3-70b",
        r"(?i)^(meta-llama/|meta/|together_ai/|groq/)?(meta-)?llama-?3\.3-70b(-instruct)?(-turbo|-versatile)?$",
        input="0.88",
        output="0.88",
    ),
    _row(
        "llama-3.1-8b",
        r"(?i)^(meta-llama/|meta/|together_ai/|groq/)?(meta-)?llama-?3\.1-8b(-instruct)?(-turbo|-instant)?$",
        input="0.18",
        output="0.18",
    ),
    # DeepSeek API (V3.2-Exp prices since 2025-09-29): cache hit = cache_read; reasoner thinking billed as output.
    _row(
        "deepseek-chat",
        r"(?i)^(deepseek/|deepseek-ai/)?(deepseek-chat|deepseek-v3(\.\d+)?(-\d{4})?)$",
        input="0.28",
        cache_read="0.028",
        output="0.42",
    ),
    _row(
        "deepseek-reasoner",
        r"(?i)^(deepseek/|deepseek-ai/)?(deepseek-reasoner|deepseek-r1(-\d{4})?)$",
        input="0.28",
        cache_read="0.028",
        output="0.42",
    ),
    _row(
        "qwen-2.5-72b",
        r"(?i)^(qwen/|together_ai/)?qwen-?2\.5-72b(-instruct)?(-turbo)?$",
        input="1.20",
        output="1.20",
    ),
]

_MILLION = Decimal(1_000_000)


def per_token(per_million: dict[str, str]) -> dict[str, float]:
    """USD per 1M tokens (decimal strings) → USD per token, exact to the float's precision."""
    return {usage_type: float(Decimal(price) / _MILLION) for usage_type, price in per_million.items()}


def builtin_prices_load(model_price: Any, entries: list[dict[str, Any]] | None = None) -> int:
    """Inserts the built-in rows that are missing (idempotent: keyed by model_name and effective_from).

    `model_price` is the ModelPrice model, historical in a migration. Returns how many rows were added.
    """
    added = 0
    for entry in BUILTIN_PRICES if entries is None else entries:
        effective_from = entry.get("effective_from", BUILTIN_EFFECTIVE_FROM)
        _, created = model_price.objects.get_or_create(
            project=None,
            model_name=entry["model_name"],
            effective_from=effective_from,
            defaults={
                "match_pattern": entry["match_pattern"],
                "prices": per_token(entry["per_million"]),
                "unit": "TOKENS",
            },
        )
        added += created
    return added
