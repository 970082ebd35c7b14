"""The browser tests cannot pass in CI by being skipped: without Chromium they fail when `CI` is true and
skip only on a developer's machine (tests/e2e/conftest.py). Proven by running pytest itself, as CI does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import in_ci

ROOT = Path(__file__).resolve().parents[2]
TARGET = "tests/e2e/test_browser_required.py::test_the_browser_starts"


def test_the_browser_starts(e2e_browser: Any) -> None:
    """What the run below asks for: nothing but the browser."""
    assert e2e_browser.is_connected() and e2e_browser.version


def _run_without_chromium(ci: str | None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SIGHTLINE_E2E_CHROMIUM": "/nonexistent/chromium"}
    env.pop("CI", None)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", TARGET, "-q", "-rs", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_missing_browser_fails_in_ci() -> None:
    run = _run_without_chromium("true")
    output = run.stdout + run.stderr
    assert run.returncode == 1, output
    assert "1 error" in output and "CI must run the browser tests, not skip them" in output, output
    assert "skipped" not in output, output


def test_a_missing_browser_skips_outside_ci() -> None:
    run = _run_without_chromium(None)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "1 skipped" in output and "no Chromium at /nonexistent/chromium" in output, output


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("TRUE", True), ("1", True), ("yes", True), ("false", False), ("0", False), ("", False)],
)
def test_what_counts_as_ci(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("CI", value)
    assert in_ci() is expected
