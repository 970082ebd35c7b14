"""Helpers for tests that start real processes: free ports, scratch data folders, clean-up checks."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from config.embedded import port_open

__all__ = ["ROOT", "embedded_env", "free_port", "port_open", "processes_mentioning", "run_module", "scratch_data_dir"]

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def scratch_data_dir(name: str) -> Iterator[Path]:
    """A data folder inside the checkout (the embedded server's system user can reach it), removed after."""
    path = ROOT / ".data" / f"{name}-{uuid.uuid4().hex[:8]}"
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def embedded_env(data_dir: Path, pg_port: int, redis_port: int, **extra: str) -> dict[str, str]:
    """The environment of a fresh machine: no DATABASE_URL/REDIS_URL, our own ports and data folder."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")}
    env.update(
        SIGHTLINE_DATA_DIR=str(data_dir),
        SIGHTLINE_PG_PORT=str(pg_port),
        SIGHTLINE_REDIS_PORT=str(redis_port),
        **extra,
    )
    return env


def run_module(module: str, *args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def processes_mentioning(text: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if text in " ".join(proc.info["cmdline"] or []):
                found.append(proc)
        except psutil.Error:
            continue
    return found
