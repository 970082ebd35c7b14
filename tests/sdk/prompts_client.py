"""What a Langfuse SDK user does with prompts, run against a live Sightline by tests/test_sdk_prompts.py.

The same script runs under SDK v4 (the main venv) and v5 (tests/sdk/langfuse5.lock); never imported by the
suite. Reads LANGFUSE_HOST, LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY; prints one JSON object with what the
SDK returned on stdout and exits 0, or exits non-zero with the reason on stderr.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from langfuse import get_client

HISTORY = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ahoy"}]


def main() -> int:
    langfuse = get_client()
    out: dict[str, Any] = {}

    created = langfuse.create_prompt(
        name="support/answer",
        type="text",
        prompt="Answer {{question}} in a {{style}} way.",
        labels=["production"],
        tags=["sdk"],
        config={"model": "gpt-4o-mini", "temperature": 0.2},
        commit_message="first",
    )
    out["created_version"] = created.version
    text = langfuse.get_prompt("support/answer", cache_ttl_seconds=0)
    out["text"] = {
        "version": text.version,
        "compiled": text.compile(question="why the sky is blue", style="short"),
        "config": text.config,
        "labels": sorted(text.labels),
        "is_fallback": text.is_fallback,
        "variables": text.variables,
    }

    langfuse.create_prompt(
        name="support/chat",
        type="chat",
        prompt=[
            {"role": "system", "content": "You are {{persona}}."},
            {"type": "placeholder", "name": "history"},
            {"role": "user", "content": "{{question}}"},
        ],
        labels=["staging"],
    )
    chat = langfuse.get_prompt("support/chat", type="chat", label="staging", cache_ttl_seconds=0)
    out["chat"] = {
        "version": chat.version,
        "compiled": chat.compile(persona="a pirate", question="Where is the gold?", history=HISTORY),
    }
    # A second chat version, so fetching version 1 must not be answered with the newest one.
    langfuse.create_prompt(name="support/chat", type="chat", prompt=[{"role": "system", "content": "Be {{mood}}."}])
    chat_v1 = langfuse.get_prompt("support/chat", type="chat", version=1, cache_ttl_seconds=0)
    out["chat_by_version"] = {
        "version": chat_v1.version,
        "type": type(chat_v1).__name__,
        "prompt": chat_v1.prompt,
        "labels": sorted(chat_v1.labels),
        "compiled": chat_v1.compile(persona="a clerk", question="Any news?", history=HISTORY[:1]),
    }

    langfuse.create_prompt(name="support/answer", type="text", prompt="Answer {{question}} briefly.")
    out["by_version"] = langfuse.get_prompt("support/answer", version=2, cache_ttl_seconds=0).prompt
    out["by_label_latest"] = langfuse.get_prompt("support/answer", label="latest", cache_ttl_seconds=0).version
    out["production_before_update"] = langfuse.get_prompt("support/answer", cache_ttl_seconds=0).version
    updated = langfuse.update_prompt(name="support/answer", version=2, new_labels=["production", "reviewed"])
    out["updated_labels"] = sorted(updated.labels)
    out["production_after_update"] = langfuse.get_prompt("support/answer", cache_ttl_seconds=0).version

    missing = langfuse.get_prompt(
        "does/not/exist", fallback="Fallback for {{question}}", cache_ttl_seconds=0, max_retries=0
    )
    out["fallback"] = {"is_fallback": missing.is_fallback, "compiled": missing.compile(question="q")}
    missing_chat = langfuse.get_prompt(
        "does/not/exist",
        type="chat",
        fallback=[{"role": "system", "content": "Fallback {{x}}"}],
        cache_ttl_seconds=0,
        max_retries=0,
    )
    out["chat_fallback"] = {"is_fallback": missing_chat.is_fallback, "compiled": missing_chat.compile(x="y")}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
