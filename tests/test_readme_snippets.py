"""README.md's "Send your first trace" examples run against a live server, so the README cannot drift.

Blocks are found between `<!-- readme-test:NAME -->` and `<!-- /readme-test:NAME -->` markers.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
import subprocess
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Tenant
from tests.test_sdk_langfuse_v5 import client_env, langfuse5_python  # noqa: F401 (the venv fixture)
from traces.models import Observation, Score, Trace

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_block(name: str) -> str:
    """The fenced code inside the marked region `name` (fences stripped)."""
    text = README.read_text()
    match = re.search(rf"<!-- readme-test:{name} -->\n```\w*\n(.*?)\n```\n<!-- /readme-test:{name} -->", text, re.S)
    assert match, f"README.md has no marked block {name!r}"
    return match.group(1)


def curl_request(block: str, now: str) -> tuple[str, dict[str, str], bytes]:
    """(path, headers, body) of the README's curl command; the heredoc body with `$NOW` filled in."""
    command, _, rest = block.partition("<<JSON\n")
    body, _, _ = rest.rpartition("\nJSON")
    args = shlex.split(command.replace("\\\n", " ").splitlines()[-1])
    assert args[0] == "curl" and "--data-binary" in args and args[args.index("--data-binary") + 1] == "@-"
    url = next(a for a in args if a.startswith("http://"))
    headers = dict(tuple(part.strip() for part in args[i + 1].split(":", 1)) for i, a in enumerate(args) if a == "-H")
    assert args[args.index("-u") + 1] == "$SIGHTLINE_PUBLIC_KEY:$SIGHTLINE_SECRET_KEY"
    return url.split("8000", 1)[1], headers, body.replace("$NOW", now).encode()


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 (test server)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.django_db(transaction=True)
def test_readme_curl_ingestion_example(live_server: Any, acme: Tenant) -> None:
    now = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    path, headers, body = curl_request(readme_block("ingestion"), now)
    assert path == "/api/public/ingestion"
    payload = json.loads(body)  # the README's JSON is valid as printed
    token = base64.b64encode(f"{acme.public_key}:{acme.secret_key}".encode()).decode()
    headers["Authorization"] = f"Basic {token}"

    status, reply = post(live_server.url + path, body, headers)
    assert status == 207
    assert reply == json.loads(readme_block("ingestion-reply"))

    trace = Trace.objects.get(project_id=acme.project.pk)
    trace_body = payload["batch"][0]["body"]
    assert (trace.id, trace.name, trace.user_id, trace.session_id) == (
        trace_body["id"],
        trace_body["name"],
        trace_body["userId"],
        trace_body["sessionId"],
    )
    assert trace.tags == trace_body["tags"] and trace.input == trace_body["input"]
    assert trace.timestamp == datetime.fromisoformat(now)
    generation = Observation.objects.get(project_id=acme.project.pk)
    generation_body = payload["batch"][1]["body"]
    assert (generation.id, generation.trace_id, generation.type) == (generation_body["id"], trace.id, "GENERATION")
    assert generation.model == generation_body["model"] and generation.output == generation_body["output"]
    assert (generation.input_tokens, generation.output_tokens) == (14, 3)

    # "Sending the same event ids again updates the same rows (no duplicates)."
    assert post(live_server.url + path, body, headers) == (status, reply)
    assert Trace.objects.filter(project_id=acme.project.pk).count() == 1
    assert Observation.objects.filter(project_id=acme.project.pk).count() == 1

    # "A wrong key gets 401, a body that is not a {"batch": [...]} object 400."
    assert post(live_server.url + path, body, {**headers, "Authorization": "Basic eDp5"})[0] == 401
    assert post(live_server.url + path, b"[]", headers)[0] == 400


@pytest.mark.django_db(transaction=True)
def test_readme_otel_environment_exports_a_span(
    live_server: Any, acme: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's `export OTEL_…` lines, run by bash, configure a stock OTLP exporter that reaches us."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    text = README.read_text()
    block = next(b for b in re.findall(r"```bash\n(.*?)\n```", text, re.S) if "OTEL_EXPORTER_OTLP_ENDPOINT" in b)
    script = f"SIGHTLINE_PUBLIC_KEY={shlex.quote(acme.public_key)} SIGHTLINE_SECRET_KEY={shlex.quote(acme.secret_key)}"
    script += f"\n{block}\nenv | grep ^OTEL_"
    done = subprocess.run(["bash", "-ec", script], capture_output=True, text=True, timeout=30, check=True)
    variables = dict(line.split("=", 1) for line in done.stdout.splitlines())
    assert variables["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:8000/api/public/otel"
    for key, value in variables.items():
        monkeypatch.setenv(key, value.replace("http://127.0.0.1:8000", live_server.url))

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter()))
    with provider.get_tracer("readme").start_as_current_span("readme-span") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
    provider.shutdown()
    assert Trace.objects.get(project_id=acme.project.pk).id == trace_id
    assert Observation.objects.get(project_id=acme.project.pk).name == "readme-span"


@pytest.mark.django_db(transaction=True)
def test_readme_langfuse_sdk_example(
    langfuse5_python: Path,  # noqa: F811 (the fixture imported above)
    live_server: Any,
    acme: Tenant,
    tmp_path: Path,
) -> None:
    """The README's Langfuse SDK snippet, run as-is by the real SDK v5 with the README's environment variables."""
    script = tmp_path / "readme_langfuse.py"
    script.write_text(readme_block("langfuse-sdk"))
    done = subprocess.run(
        [str(langfuse5_python), str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env=client_env(live_server.url, acme),
        check=False,
    )
    assert done.returncode == 0 and "error" not in done.stderr.lower(), done.stderr
    trace = Trace.objects.get(project_id=acme.project.pk)
    assert (trace.name, trace.user_id, trace.session_id, trace.tags) == ("answer", "user-42", "chat-1", ["readme"])
    generation = Observation.objects.get(project_id=acme.project.pk, type="GENERATION")
    root = Observation.objects.get(project_id=acme.project.pk, name="answer")
    assert (generation.name, generation.model, generation.parent_id) == ("llm-call", "gpt-4o-mini", root.id)
    assert (generation.input_tokens, generation.output_tokens) == (14, 3)
    score = Score.objects.get(project_id=acme.project.pk)
    assert (score.name, score.value, score.trace_id) == ("helpfulness", 1.0, trace.id)
