"""The real Langfuse Python SDK, v4 (main venv) and v5 (its own venv), managing prompts on a live Sightline.

Both run tests/sdk/prompts_client.py as a subprocess against pytest-django's live_server: create_prompt (text
and chat), get_prompt by label and by version (a chat prompt too), compile() with variables and placeholders,
update_prompt, and the fallback a 404 triggers. v5's venv is built by the fixture in tests/test_sdk_langfuse_v5.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from prompts.models import PromptVersion
from tests.conftest import Tenant
from tests.test_sdk_langfuse_v5 import RUN_TIMEOUT, client_env, langfuse5_python  # noqa: F401 (fixture)

CLIENT = Path(__file__).parent / "sdk" / "prompts_client.py"


def _run(python: Path | str, base_url: str, tenant: Tenant) -> dict[str, Any]:
    env = client_env(base_url, tenant, LANGFUSE_TRACING_ENABLED="false")
    done = subprocess.run(
        [str(python), str(CLIENT)], capture_output=True, text=True, timeout=RUN_TIMEOUT, env=env, check=False
    )
    assert done.returncode == 0, f"the SDK client failed:\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def _assert_prompt_journey(out: dict[str, Any], tenant: Tenant) -> None:
    assert out["created_version"] == 1
    assert out["text"] == {
        "version": 1,
        "compiled": "Answer why the sky is blue in a short way.",
        "config": {"model": "gpt-4o-mini", "temperature": 0.2},
        "labels": ["latest", "production"],
        "is_fallback": False,
        "variables": ["question", "style"],
    }
    assert out["chat"] == {
        "version": 1,
        "compiled": [
            {"role": "system", "content": "You are a pirate."},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "ahoy"},
            {"role": "user", "content": "Where is the gold?"},
        ],
    }
    # A chat prompt by version: the SDK's ChatPromptClient, placeholder and all, and v1 although v2 exists.
    assert out["chat_by_version"] == {
        "version": 1,
        "type": "ChatPromptClient",
        "prompt": [
            {"type": "message", "role": "system", "content": "You are {{persona}}."},
            {"type": "placeholder", "name": "history"},
            {"type": "message", "role": "user", "content": "{{question}}"},
        ],
        "labels": ["staging"],
        "compiled": [
            {"role": "system", "content": "You are a clerk."},
            {"role": "user", "content": "hi"},
            {"role": "user", "content": "Any news?"},
        ],
    }
    assert out["by_version"] == "Answer {{question}} briefly."
    assert out["by_label_latest"] == 2
    assert out["production_before_update"] == 1
    assert out["updated_labels"] == ["latest", "production", "reviewed"]
    assert out["production_after_update"] == 2
    assert out["fallback"] == {"is_fallback": True, "compiled": "Fallback for q"}
    assert out["chat_fallback"]["is_fallback"] is True
    assert out["chat_fallback"]["compiled"][0]["content"] == "Fallback y"

    stored = PromptVersion.objects.filter(prompt__project_id=tenant.project.pk).order_by("prompt__name", "version")
    assert [(v.prompt.name, v.version, v.prompt.type) for v in stored] == [
        ("support/answer", 1, "text"),
        ("support/answer", 2, "text"),
        ("support/chat", 1, "chat"),
        ("support/chat", 2, "chat"),
    ]
    assert stored[0].commit_message == "first" and stored[0].prompt.tags == ["sdk"]


@pytest.mark.django_db(transaction=True)
def test_langfuse_sdk_v4_prompts(live_server: Any, acme: Tenant) -> None:
    import langfuse

    assert langfuse.__version__.startswith("4."), langfuse.__version__
    _assert_prompt_journey(_run(sys.executable, live_server.url, acme), acme)


@pytest.mark.django_db(transaction=True)
def test_langfuse_sdk_v5_prompts(langfuse5_python: Path, live_server: Any, acme: Tenant) -> None:  # noqa: F811
    _assert_prompt_journey(_run(langfuse5_python, live_server.url, acme), acme)
