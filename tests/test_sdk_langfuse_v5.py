"""The real Langfuse Python SDK v5 against a live Sightline: OTLP traces, `/scores` arrays, `/projects`.

v4 is the main venv's dev dependency, so v5 runs in a virtualenv of its own, built once from the hashed lock
tests/sdk/langfuse5.lock under `.data/sdk-venvs/langfuse5-<lock hash>` (reused while the lock is unchanged).
The client script (tests/sdk/langfuse5_client.py) runs there as a subprocess against pytest-django's live_server.
Never skipped: a venv that cannot be built fails the test with the reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.conftest import Tenant
from traces.models import Observation, Score, Trace

SDK_DIR = Path(__file__).parent / "sdk"
LOCK = SDK_DIR / "langfuse5.lock"
CLIENT = SDK_DIR / "langfuse5_client.py"
BUILD_TIMEOUT = 300
RUN_TIMEOUT = 120


def _uv() -> str:
    local = Path(sys.executable).parent / "uv"
    found = str(local) if local.exists() else shutil.which("uv")
    if not found:
        pytest.fail("uv is needed to build the Langfuse v5 SDK venv: run `make install` (it installs uv into .venv).")
    return found


def _run(args: list[str], what: str) -> None:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"Building the Langfuse v5 SDK venv timed out during {what} ({BUILD_TIMEOUT}s): is PyPI reachable?")
    if done.returncode != 0:
        pytest.fail(
            f"Building the Langfuse v5 SDK venv failed during {what} (PyPI must be reachable):\n"
            f"$ {' '.join(args)}\n{done.stdout}\n{done.stderr}"
        )


@pytest.fixture(scope="session")
def langfuse5_python() -> Path:
    """The python of a venv holding exactly tests/sdk/langfuse5.lock (built on first use, then reused)."""
    digest = hashlib.sha256(LOCK.read_bytes()).hexdigest()[:12]
    venv = Path(settings.DATA_DIR) / "sdk-venvs" / f"langfuse5-{digest}"
    python = venv / "bin" / "python"
    if python.exists():
        return python
    uv = _uv()
    building = venv.with_name(f"{venv.name}.build-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    building.parent.mkdir(parents=True, exist_ok=True)
    _run([uv, "venv", "--quiet", "--python", sys.executable, str(building)], "uv venv")
    _run([uv, "pip", "sync", "--quiet", "--python", str(building / "bin" / "python"), str(LOCK)], "uv pip sync")
    try:
        building.rename(venv)  # atomic: a half-built venv is never reused
    except OSError:
        shutil.rmtree(building, ignore_errors=True)  # another run finished first
    if not python.exists():
        pytest.fail(f"The Langfuse v5 SDK venv was built but {python} is missing.")
    return python


def client_env(base_url: str, tenant: Tenant, **extra: str) -> dict[str, str]:
    """The environment a user gives the SDK: this process's, minus any Langfuse/OTel/venv settings of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGFUSE_", "OTEL_", "VIRTUAL_ENV", "PYTHON"))}
    env.update(LANGFUSE_HOST=base_url, LANGFUSE_PUBLIC_KEY=tenant.public_key, LANGFUSE_SECRET_KEY=tenant.secret_key)
    env.update(extra)
    return env


def _client_run(python: Path, base_url: str, tenant: Tenant) -> dict[str, Any]:
    env = client_env(base_url, tenant, LANGFUSE_TRACING_ENVIRONMENT="sdk-v5", LANGFUSE_RELEASE="release-5")
    done = subprocess.run(
        [str(python), str(CLIENT)], capture_output=True, text=True, timeout=RUN_TIMEOUT, env=env, check=False
    )
    assert done.returncode == 0, f"the v5 client failed:\n{done.stdout}\n{done.stderr}"
    assert "error" not in done.stderr.lower(), done.stderr  # the SDK logs export failures instead of raising
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.django_db(transaction=True)
def test_real_langfuse_sdk_v5_trace_and_scores(langfuse5_python: Path, live_server: Any, acme: Tenant) -> None:
    ids = _client_run(langfuse5_python, live_server.url, acme)
    trace_id = ids["trace_id"]
    assert len(trace_id) == 32

    trace = Trace.objects.get(project_id=acme.project.pk, id=trace_id)
    assert trace.name == "support-turn"
    assert (trace.user_id, trace.session_id) == ("user-42", "session-v5")
    assert sorted(trace.tags) == ["e2e", "sdk-v5"]
    assert trace.metadata["tier"] == "gold"  # v5 JSON-encodes every metadata value: decoded, not '"gold"'
    assert (trace.environment, trace.release) == ("sdk-v5", "release-5")
    assert trace.input == {"args": ["What is the capital of France?"], "kwargs": {}}  # from the root span
    assert trace.output == "Paris."

    observations = {o.id: o for o in Observation.objects.filter(project_id=acme.project.pk, trace_id=trace_id)}
    by_name = {o.name: o for o in observations.values()}
    assert set(by_name) == {"answer", "planner", "retrieve-docs", "search-web", "llm-call", "flaky-step"}
    root = by_name["answer"]
    assert root.id == ids["root_id"] and root.parent_id is None and root.type == "SPAN"
    agent = by_name["planner"]
    assert agent.id == ids["agent_id"] and agent.type == "AGENT" and agent.parent_id == root.id
    for name, obs_type in [("retrieve-docs", "RETRIEVER"), ("search-web", "TOOL"), ("llm-call", "GENERATION")]:
        assert (by_name[name].type, by_name[name].parent_id) == (obs_type, agent.id), name
    assert by_name["search-web"].id == ids["tool_id"] and by_name["search-web"].output == {"hits": 2}
    assert by_name["retrieve-docs"].output == ["doc about What is the capital of France?"]
    assert all(o.environment == "sdk-v5" for o in observations.values())

    generation = by_name["llm-call"]
    assert generation.id == ids["generation_id"]
    assert generation.model == "gpt-4o-mini"
    assert generation.model_parameters == {"temperature": 0.2, "max_tokens": 256}
    assert generation.input == [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    assert generation.output == {"role": "assistant", "content": "Paris."}
    assert generation.usage["input"] == 120 and generation.usage["output"] == 30
    assert generation.usage["cache_read"] == 20  # usage types are normalised (pricing keys)
    assert (generation.input_tokens, generation.output_tokens) == (120, 30)
    assert generation.cost == {"input": 0.0012, "output": 0.0006}
    assert generation.cost_source == "provided"
    assert generation.total_cost == Decimal("0.0018")
    assert generation.metadata["provider"] == "openai" and generation.metadata["attempt"] == 1
    assert (generation.prompt_name, generation.prompt_version) == ("support-answer", 3)
    # The propagated prompt rides on every span in its context; only generations link to it.
    assert all(o.prompt_name is None for o in observations.values() if o.type != "GENERATION")

    failing = by_name["flaky-step"]
    assert failing.id == ids["error_id"] and failing.parent_id == agent.id
    assert (failing.level, failing.status_message) == ("ERROR", "upstream timed out")
    assert all(o.level == "DEFAULT" for o in observations.values() if o.name != "flaky-step")
    trace.refresh_from_db()
    assert trace.error_count == 1 and trace.observation_count == 6

    scores = {s.name: s for s in Score.objects.filter(project_id=acme.project.pk)}
    assert set(scores) == {"accuracy", "tone", "thumbs"}
    assert all(s.trace_id == trace_id and s.source == "API" for s in scores.values())
    accuracy = scores["accuracy"]
    assert (accuracy.data_type, accuracy.value, accuracy.comment) == ("NUMERIC", 0.9, "close enough")
    assert (scores["tone"].data_type, scores["tone"].string_value) == ("CATEGORICAL", "friendly")
    thumbs = scores["thumbs"]
    assert (thumbs.data_type, thumbs.value, thumbs.observation_id) == ("BOOLEAN", 1.0, generation.id)
