"""The embedded PostgreSQL and Valkey start-up that `make run` and `make test` rely on.

Runs even in CI (where DATABASE_URL/REDIS_URL point at the machine's services), on its own ports
and data folder, through the same `python -m config.embedded` entry point.
"""

from __future__ import annotations

import socket

import psycopg
import redis

from tests.procs import embedded_env, free_port, port_open, processes_mentioning, run_module, scratch_data_dir


def test_start_twice_survive_restart_stale_pid_and_busy_port() -> None:
    pg_port, redis_port = free_port(), free_port()
    with scratch_data_dir("embedded") as data_dir:
        env = embedded_env(data_dir, pg_port, redis_port)
        try:
            first = run_module("config.embedded", "start", env=env)
            assert first.returncode == 0, first.stderr
            assert "PostgreSQL: started" in first.stdout and "Valkey: started" in first.stdout

            again = run_module("config.embedded", "start", env=env)
            assert again.returncode == 0, again.stderr
            assert "PostgreSQL: already running" in again.stdout and "Valkey: already running" in again.stdout

            with psycopg.connect(host="127.0.0.1", port=pg_port, user="postgres", dbname="sightline") as conn:
                conn.execute("CREATE TABLE kept (v text)")
                conn.execute("INSERT INTO kept VALUES ('survives')")
            redis.Redis(port=redis_port).set("kept", "survives")

            assert run_module("config.embedded", "stop", env=env).returncode == 0
            assert not port_open(pg_port) and not port_open(redis_port)

            # A crash leaves pid files behind that name dead processes: they must not block a start.
            (data_dir / "postgres" / "postmaster.pid").write_text("999999\n" + str(data_dir / "postgres") + "\n")
            (data_dir / "valkey" / "valkey.pid").write_text("999999\n")
            restarted = run_module("config.embedded", "start", env=env)
            assert restarted.returncode == 0, restarted.stderr
            assert "PostgreSQL: started" in restarted.stdout
            with psycopg.connect(host="127.0.0.1", port=pg_port, user="postgres", dbname="sightline") as conn:
                assert conn.execute("SELECT v FROM kept").fetchone() == ("survives",)
            assert redis.Redis(port=redis_port).get("kept") == b"survives"

            assert run_module("config.embedded", "stop", env=env).returncode == 0
            with socket.socket() as squatter:
                # The port may still be in TIME_WAIT from our own connections: that must not stop the bind.
                squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                squatter.bind(("127.0.0.1", pg_port))
                squatter.listen()
                busy = run_module("config.embedded", "start", env=env)
            assert busy.returncode == 1
            assert f"port {pg_port} on 127.0.0.1 is in use by another program" in busy.stderr
            assert "Traceback" not in busy.stderr
        finally:
            run_module("config.embedded", "stop", env=env)
        assert not processes_mentioning(str(data_dir))
