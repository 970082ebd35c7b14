"""The container platform: platform/Dockerfile, its entrypoint scripts, docker-compose.yml, .dockerignore.

No Docker engine is needed: compose files are validated with `docker-compose config`, scripts with
`bash -n`, and the Dockerfile's lock filter is run with awk on the real requirements.lock.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
PLATFORM = REPO / "platform"
DOCKERFILE = PLATFORM / "Dockerfile"
COMPOSE_FILE = REPO / "docker-compose.yml"

# Each script and the process it must `exec` (so that it runs as the container's PID 1 and gets SIGTERM).
SCRIPTS = {
    "entrypoints/web": "exec gunicorn config.wsgi:application",
    "entrypoints/worker": "exec celery -A config worker",
    "entrypoints/beat": "exec celery -A config beat",
    "entrypoints/migrate": "exec python manage.py migrate --noinput",
    "healthcheck": "exec python -",
}
APP_SERVICES = {"migrate", "web", "worker", "beat"}
# Paths inside the image's builder stage, replaced by the test's own when it runs the lock filter.
BUILDER_LOCK = "/tmp/requirements.lock"  # noqa: S108
BUILDER_RUNTIME_LOCK = "/tmp/runtime.lock"  # noqa: S108


def _docker_compose() -> str:
    path = shutil.which("docker-compose")
    if path is None:
        pytest.fail(
            "docker-compose is not installed, so docker-compose.yml cannot be validated: "
            "run `apt-get install -y docker-compose`"
        )
    return path


def _compose(*args: str) -> subprocess.CompletedProcess[str]:
    # As in CI: SECRET_KEY unset. The file must still be valid (the app itself refuses to start).
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    return subprocess.run(
        [_docker_compose(), "-f", str(COMPOSE_FILE), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined as Docker joins them."""
    text = re.sub(r"\\\n", "", DOCKERFILE.read_text())
    pairs = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


# --- docker-compose.yml ---


def test_compose_config_is_valid_without_secret_key() -> None:
    result = _compose("config", "-q")
    assert result.returncode == 0, result.stderr


def test_compose_services_and_start_order() -> None:
    result = _compose("config")
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert set(services) == {"postgres", "redis", *APP_SERVICES}

    for name in APP_SERVICES:
        service = services[name]
        assert service["build"]["dockerfile"] == "platform/Dockerfile", name
        assert Path(service["build"]["context"]).resolve() == REPO, name
        assert service["command"] == [name], name
        assert (PLATFORM / "entrypoints" / name).is_file(), name
        environment = service["environment"]
        assert environment["DATABASE_URL"].startswith("postgres://sightline:"), name
        assert environment["DATABASE_URL"].endswith("@postgres:5432/sightline"), name
        assert environment["REDIS_URL"] == "redis://redis:6379/0", name
        assert "SECRET_KEY" in environment, name
        assert "ALLOWED_HOSTS" in environment, name
        assert "SITE_URL" in environment, name

    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"]["restart"] == "no"
    for name in ("web", "worker", "beat"):
        depends_on = services[name]["depends_on"]
        assert depends_on["migrate"]["condition"] == "service_completed_successfully", name
        assert depends_on["redis"]["condition"] == "service_healthy", name

    assert "/readyz" in services["web"]["healthcheck"]["test"]
    assert any(port["target"] == 8000 for port in services["web"]["ports"])
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert "ping" in services["redis"]["healthcheck"]["test"]
    assert services["postgres"]["image"].startswith("postgres:17")


# --- platform/ is not a Python package ---


def test_platform_has_no_python_files() -> None:
    # `platform` is a standard-library module: a package of that name would shadow it.
    assert not (PLATFORM / "__init__.py").exists()
    python_files = sorted(str(p.relative_to(REPO)) for p in PLATFORM.rglob("*.py"))
    assert python_files == []


# --- entrypoint scripts ---


def test_every_entrypoint_is_covered() -> None:
    present = {f"entrypoints/{p.name}" for p in (PLATFORM / "entrypoints").iterdir()}
    assert present == {name for name in SCRIPTS if name.startswith("entrypoints/")}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_script_is_strict_executable_bash(name: str) -> None:
    path = PLATFORM / name
    mode = path.stat().st_mode
    for bit in (stat.S_IXUSR, stat.S_IXGRP, stat.S_IXOTH):
        assert mode & bit, f"chmod +x {path}"
    lines = path.read_text().splitlines()
    assert lines[0] == "#!/usr/bin/env bash"
    assert "set -euo pipefail" in lines
    exec_lines = [line for line in lines if line.startswith("exec ")]
    assert len(exec_lines) == 1, exec_lines
    assert exec_lines[0].startswith(SCRIPTS[name]), exec_lines[0]


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_script_parses(name: str) -> None:
    result = subprocess.run(
        ["bash", "-n", str(PLATFORM / name)], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr


# --- platform/Dockerfile ---


def test_dockerfile_runs_as_non_root_with_healthcheck() -> None:
    instructions = _dockerfile_instructions()
    users = [args for keyword, args in instructions if keyword == "USER"]
    assert users, "the image needs a USER"
    assert users[-1].split(":")[0] not in {"root", "0"}
    healthchecks = [args for keyword, args in instructions if keyword == "HEALTHCHECK"]
    assert len(healthchecks) == 1
    assert "/healthz" in healthchecks[0]
    assert ("EXPOSE", "8000") in instructions
    assert ("CMD", '["web"]') in instructions


def test_dockerfile_builds_from_the_lock_on_python_312() -> None:
    instructions = _dockerfile_instructions()
    args = [a for keyword, a in instructions if keyword == "ARG"]
    assert "PYTHON_IMAGE=python:3.12-slim" in args
    assert [a for keyword, a in instructions if keyword == "FROM"] == [
        "${PYTHON_IMAGE} AS builder",
        "${PYTHON_IMAGE} AS runtime",
    ]
    runs = " ".join(a for keyword, a in instructions if keyword == "RUN")
    assert "uv==0.13.9" in runs
    assert "uv pip sync" in runs
    assert "--require-hashes" in runs
    assert "collectstatic --noinput" in runs
    env = " ".join(a for keyword, a in instructions if keyword == "ENV")
    assert "SIGHTLINE_DATA_DIR=/app/.data" in env
    assert "STATIC_MANIFEST=true" in env


def _lock_names(text: str) -> list[str]:
    return [line.split("==")[0] for line in text.splitlines() if re.match(r"[A-Za-z0-9]", line)]


def test_dockerfile_lock_filter_drops_only_the_named_packages(tmp_path: Path) -> None:
    """Runs the builder's awk filter on the real lock, exactly as the image build does."""
    instructions = _dockerfile_instructions()
    exclude_arg = next(a for keyword, a in instructions if keyword == "ARG" and a.startswith("LOCK_EXCLUDE="))
    excluded = exclude_arg.partition("=")[2].strip('"').split()
    awk_run = next(a for keyword, a in instructions if keyword == "RUN" and a.startswith("awk "))
    awk_command = awk_run.split(" && ")[0]
    assert BUILDER_LOCK in awk_command
    assert BUILDER_RUNTIME_LOCK in awk_command
    awk_command = awk_command.replace(BUILDER_LOCK, str(REPO / "requirements.lock"))
    awk_command = awk_command.replace(BUILDER_RUNTIME_LOCK, str(tmp_path / "runtime.lock"))

    result = subprocess.run(
        ["bash", "-c", awk_command],
        env={**os.environ, "LOCK_EXCLUDE": " ".join(excluded)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr

    full = _lock_names((REPO / "requirements.lock").read_text())
    runtime_text = (tmp_path / "runtime.lock").read_text()
    runtime = _lock_names(runtime_text)
    assert set(excluded) <= set(full), "LOCK_EXCLUDE names a package the lock no longer has"
    assert runtime == [name for name in full if name not in excluded]
    # The packages the running app imports are kept.
    assert {"django", "gunicorn", "celery", "psycopg", "psutil", "whitenoise"} <= set(runtime)
    # Every kept entry still carries its hashes (uv pip sync --require-hashes).
    assert runtime_text.count("--hash=sha256:") > len(runtime)


def test_dockerignore_keeps_local_state_out_of_the_image() -> None:
    patterns = {
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", ".data", ".env", "**/__pycache__", "test-results", "bench/results"} <= patterns
