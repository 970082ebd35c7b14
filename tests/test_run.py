"""`make run` end to end on a fresh data folder: embedded services, demo tenant, web, worker, beat, Ctrl-C."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import httpx
import psutil

from tests.procs import ROOT, embedded_env, free_port, port_open, processes_mentioning, scratch_data_dir


def _wait_ready(base: str, proc: subprocess.Popen[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"make run exited early with {proc.returncode}:\n{output[-4000:]}")
        try:
            answer = httpx.get(f"{base}/readyz", timeout=2)
            if answer.status_code == 200:
                return
            last = f"{answer.status_code} {answer.text[:500]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.5)
    raise AssertionError(f"{base}/readyz not ready within {timeout}s; last answer: {last}")


def _start(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "config.run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)  # what Ctrl-C delivers
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    return output


def test_make_run_serves_signs_in_runs_worker_and_beat_and_stops_cleanly() -> None:
    pg_port, redis_port, web_port = free_port(), free_port(), free_port()
    base = f"http://127.0.0.1:{web_port}"
    with scratch_data_dir("run") as data_dir:
        env = embedded_env(data_dir, pg_port, redis_port, PORT=str(web_port))
        proc = _start(env)
        try:
            _wait_ready(base, proc, timeout=180)
            children = psutil.Process(proc.pid).children(recursive=True)
            commands = [" ".join(c.cmdline()) for c in children]
            assert any("gunicorn" in c for c in commands)
            assert any("celery" in c and " worker" in c for c in commands)
            assert any("celery" in c and " beat" in c for c in commands)

            credentials = (data_dir / "demo-credentials.json").read_text()
            email = re.search(r'"email": "([^"]+)"', credentials).group(1)  # type: ignore[union-attr]
            password = re.search(r'"password": "([^"]+)"', credentials).group(1)  # type: ignore[union-attr]
            with httpx.Client(base_url=base, follow_redirects=True) as browser:
                login = browser.get("/login/")
                assert login.status_code == 200
                token = browser.cookies["csrftoken"]
                signed_in = browser.post(
                    "/login/",
                    data={"username": email, "password": password, "csrfmiddlewaretoken": token},
                    headers={"Referer": f"{base}/login/"},
                )
                assert signed_in.status_code == 200
                assert "/p/" in str(signed_in.url), signed_in.url
        finally:
            output = _stop(proc) if proc.poll() is None else proc.communicate()[0]
        assert "Sign in" in output and email in output and password in output
        assert "Public key  pk-sl-" in output and "Secret key  sk-sl-" in output
        for child in children:
            assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE, child
        assert not port_open(web_port) and not port_open(pg_port) and not port_open(redis_port)
        assert not processes_mentioning(str(data_dir))

        # A second run reuses everything: same credentials, no new demo data, ready quickly.
        proc = _start(env)
        started = time.monotonic()
        try:
            _wait_ready(base, proc, timeout=60)
            ready_after = time.monotonic() - started
        finally:
            output = _stop(proc)
        assert password in output and "Demo data already in" in output
        print(f"second start ready after {ready_after:.1f}s")
        assert not processes_mentioning(str(data_dir))
