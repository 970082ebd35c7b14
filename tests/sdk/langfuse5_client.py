"""What a user of the Langfuse Python SDK v5 does, run against a live Sightline by tests/test_sdk_langfuse_v5.py.

Runs in its own virtualenv (tests/sdk/langfuse5.lock), never imported by the suite. Reads LANGFUSE_HOST,
LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY; prints one JSON object (the ids the test looks up) on stdout and
exits 0, or exits non-zero with the reason on stderr.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from langfuse import get_client, observe, propagate_attributes

PROMPT = {"name": "support-answer", "version": 3}


def main() -> int:
    langfuse = get_client()
    if not langfuse.auth_check():
        print("auth_check() returned False", file=sys.stderr)
        return 1
    ids: dict[str, Any] = {}

    @observe(name="retrieve-docs", as_type="retriever")
    def retrieve(query: str) -> list[str]:
        return [f"doc about {query}"]

    @observe()
    def answer(question: str) -> str:
        ids["trace_id"] = langfuse.get_current_trace_id()
        ids["root_id"] = langfuse.get_current_observation_id()
        with (
            propagate_attributes(
                user_id="user-42",
                session_id="session-v5",
                tags=["sdk-v5", "e2e"],
                metadata={"tier": "gold"},
                trace_name="support-turn",
            ),
            langfuse.start_as_current_observation(as_type="agent", name="planner", input={"goal": question}) as ag,
        ):
            ids["agent_id"] = ag.id
            docs = retrieve(question)
            with langfuse.start_as_current_observation(
                as_type="tool", name="search-web", input={"q": question}
            ) as tool:
                ids["tool_id"] = tool.id
                tool.update(output={"hits": 2})
            with (
                propagate_attributes(prompt=PROMPT),
                langfuse.start_as_current_observation(
                    as_type="generation",
                    name="llm-call",
                    model="gpt-4o-mini",
                    model_parameters={"temperature": 0.2, "max_tokens": 256},
                    input=[
                        {"role": "system", "content": "You are helpful."},
                        {"role": "user", "content": question},
                    ],
                    metadata={"provider": "openai", "attempt": 1},
                ) as generation,
            ):
                ids["generation_id"] = generation.id
                generation.update(
                    output={"role": "assistant", "content": "Paris."},
                    usage_details={"input": 120, "output": 30, "cache_read_input_tokens": 20},
                    cost_details={"input": 0.0012, "output": 0.0006},
                )
            with langfuse.start_as_current_observation(as_type="span", name="flaky-step") as failing:
                ids["error_id"] = failing.id
                failing.update(level="ERROR", status_message="upstream timed out")
            ag.update(output={"docs": len(docs)})
        return "Paris."

    answer("What is the capital of France?")
    trace_id = ids["trace_id"]
    langfuse.create_score(name="accuracy", value=0.9, trace_id=trace_id, comment="close enough")
    langfuse.create_score(name="tone", value="friendly", trace_id=trace_id, data_type="CATEGORICAL")
    langfuse.create_score(
        name="thumbs", value=1, trace_id=trace_id, observation_id=ids["generation_id"], data_type="BOOLEAN"
    )
    langfuse.flush()
    langfuse.shutdown()
    print(json.dumps(ids))
    return 0


if __name__ == "__main__":
    sys.exit(main())
