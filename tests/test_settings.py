"""Settings come from the environment and are parsed strictly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.env import ConfigError, env_bool, env_int, env_list, env_str

ROOT = Path(__file__).resolve().parent.parent


def _django_setup(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "SECRET_KEY_FILE", "DEBUG")}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)",
        ],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_missing_secret_key_with_debug_off_stops_start_up_clearly() -> None:
    done = _django_setup({})
    assert done.returncode != 0
    assert "SECRET_KEY is not set" in done.stderr


def test_debug_on_runs_without_secret_key() -> None:
    done = _django_setup({"DEBUG": "true"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


def test_secret_key_file_is_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    assert _django_setup({"SECRET_KEY_FILE": str(secret)}).returncode == 0


def test_malformed_boolean_is_refused_by_name() -> None:
    done = _django_setup({"SECRET_KEY": "x", "DEBUG": "maybe"})
    assert done.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in done.stderr


def test_env_helpers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FLAG", "TRUE")
    assert env_bool("FLAG", default=False) is True
    monkeypatch.setenv("FLAG", "off")
    assert env_bool("FLAG", default=True) is False
    monkeypatch.setenv("FLAG", "")
    assert env_bool("FLAG", default=True) is True
    monkeypatch.setenv("NUM", "12x")
    with pytest.raises(ConfigError, match="NUM='12x' is not a whole number"):
        env_int("NUM", 1)
    monkeypatch.setenv("HOSTS", "a.example, b.example ,")
    assert env_list("HOSTS", []) == ["a.example", "b.example"]
    monkeypatch.setenv("TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="TOKEN_FILE"):
        env_str("TOKEN")
