"""`make run`: services, migrations, first-run demo, then web + worker + beat until Ctrl-C.

Each child runs in its own process group, so Ctrl-C reaches only this supervisor, which stops the
children (SIGTERM, then SIGKILL to the whole group after a grace period) and the embedded servers it
started. Nothing is left behind.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GRACE_SECONDS = 15


def _say(message: str) -> None:
    print(f"\033[1m[sightline]\033[0m {message}", flush=True)


def _secret_key_file(data_dir: Path) -> Path:
    """A per-checkout secret under .data/, made once, so sessions survive restarts."""
    path = data_dir / "secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path


def _spawn(name: str, argv: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, cwd=ROOT, start_new_session=True)


def _stop(children: dict[str, subprocess.Popen[bytes]]) -> None:
    for proc in children.values():
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    for name, proc in children.items():
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _say(f"{name} did not stop in {GRACE_SECONDS}s; killing it")
        # Kill whatever is left in the group (gunicorn workers, celery pool processes).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def main() -> int:
    os.chdir(ROOT)
    data_dir = Path(os.environ.get("SIGHTLINE_DATA_DIR", ROOT / ".data"))
    if not os.environ.get("SECRET_KEY") and not os.environ.get("SECRET_KEY_FILE"):
        os.environ["SECRET_KEY_FILE"] = str(_secret_key_file(data_dir))

    from config import embedded

    started: list[embedded.Outcome] = []
    children: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    port = os.environ.get("PORT", "8000")
    bind = os.environ.get("BIND", "127.0.0.1")
    if embedded.port_open(int(port)):
        _say(f"error: port {port} is already in use (another `make run`?). Stop it, or: PORT=8001 make run")
        return 1
    try:
        try:
            started = embedded.start_all(
                data_dir,
                database=not os.environ.get("DATABASE_URL"),
                redis=not os.environ.get("REDIS_URL"),
            )
        except embedded.EmbeddedError as exc:
            _say(f"error: {exc}")
            return 1
        for outcome in started:
            _say(f"{outcome.name} {'started' if outcome.started else 'already running'}: {outcome.url}")
        subprocess.run([sys.executable, "-m", "config.prepare"], cwd=ROOT, check=True)
        bin_dir = Path(sys.executable).parent
        children["web"] = _spawn(
            "web",
            [
                str(bin_dir / "gunicorn"),
                "config.wsgi:application",
                "--bind",
                f"{bind}:{port}",
                "--workers",
                os.environ.get("WEB_CONCURRENCY", "2"),
                "--threads",
                os.environ.get("WEB_THREADS", "4"),
                "--log-level",
                "warning",
            ],
        )
        children["worker"] = _spawn(
            "worker",
            [
                str(bin_dir / "celery"),
                "-A",
                "config",
                "worker",
                "-Q",
                "default,evals,maintenance",
                "--concurrency",
                os.environ.get("WORKER_CONCURRENCY", "2"),
                "--loglevel",
                "WARNING",
            ],
        )
        children["beat"] = _spawn(
            "beat",
            [
                str(bin_dir / "celery"),
                "-A",
                "config",
                "beat",
                "--loglevel",
                "WARNING",
                "--schedule",
                str(data_dir / "celerybeat-schedule"),
            ],
        )
        _say(f"Sightline is running at http://127.0.0.1:{port}  (Ctrl-C stops everything)")
        while not stopping:
            for name, proc in children.items():
                if proc.poll() is not None:
                    _say(f"{name} exited with code {proc.returncode}; stopping")
                    stopping = True
                    break
            time.sleep(0.3)
        return 0
    except subprocess.CalledProcessError as exc:
        _say(f"error: `{' '.join(map(str, exc.cmd[1:]))}` failed with code {exc.returncode}")
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not interrupt the clean-up
        _say("stopping…")
        _stop(children)
        embedded.stop_started(data_dir, started)
        _say("stopped")


if __name__ == "__main__":
    sys.exit(main())
