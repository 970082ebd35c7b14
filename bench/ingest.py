"""End-to-end OTLP ingestion benchmark against Sightline as `make run` starts it, with a COPY baseline.

    .venv/bin/python -m bench.ingest                      # start a scratch `python -m config.run`, run the matrix
    .venv/bin/python -m bench.ingest --spans 20000 --repeat 3 --explain
    .venv/bin/python -m bench.ingest --url http://127.0.0.1:8000 --database-url postgres://…  # a running server

Matrix: {batch 100, 1000} x {1, 4 clients}, N spans each, plus COPY BINARY of the same normalised rows into
scratch copies of our tables (one connection, commit per batch): the span rows alone, and every row the server
stores (spans, traces, sessions), interleaved and repeated; medians are
printed as a markdown table and every run is appended as a JSON line to bench/results/. See bench/README.md.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg

from bench.spans import workload

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SCENARIOS: list[tuple[str, int, int]] = [("ours", 100, 1), ("ours", 100, 4), ("ours", 1000, 1), ("ours", 1000, 4)]
COPIES: list[tuple[str, int, int]] = [("copy", 100, 1), ("copy", 1000, 1), ("copy-all", 100, 1), ("copy-all", 1000, 1)]
PHOENIX_SPANS_PER_SECOND = 100  # perf-anchors.md §1: ≈95-118 spans/s whatever the batch or sender count


def _say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the server, as `make run` starts it ----------------------------------------------------------------


@dataclass
class Target:
    url: str
    database_url: str
    project_id: int
    auth: str
    data_dir: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    pg_log: Path | None = None
    redis_url: str = "redis://127.0.0.1:1/0"  # the COPY baselines price rows as the server does, with its cache


def server_start(source: Path) -> Target:
    """`python -m config.run` on scratch ports and a scratch SIGHTLINE_DATA_DIR (the tests/procs.py recipe)."""
    data_dir = ROOT / ".data" / f"bench-{uuid.uuid4().hex[:8]}"
    port, pg_port, redis_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")}
    env.update(
        SIGHTLINE_DATA_DIR=str(data_dir),
        SIGHTLINE_PG_PORT=str(pg_port),
        SIGHTLINE_REDIS_PORT=str(redis_port),
        PORT=str(port),
    )
    log = open(ROOT / ".data" / f"{data_dir.name}.log", "wb")  # noqa: SIM115 - lives as long as the server
    _say(f"starting `python -m config.run` on :{port} (pg :{pg_port}, valkey :{redis_port}, data {data_dir})")
    proc = subprocess.Popen(
        [sys.executable, "-m", "config.run"], cwd=source, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"config.run exited with {proc.returncode}; see {log.name}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    else:
        raise RuntimeError("server not ready within 300 s")
    credentials = json.loads((data_dir / "demo-credentials.json").read_text())
    auth = base64.b64encode(f"{credentials['public_key']}:{credentials['secret_key']}".encode()).decode()
    return Target(
        url=url,
        database_url=f"postgresql://postgres@127.0.0.1:{pg_port}/sightline",
        project_id=int(credentials["project_id"]),
        auth=auth,
        data_dir=data_dir,
        proc=proc,
        pg_log=data_dir / "postgres" / "server.log",
        redis_url=f"redis://127.0.0.1:{redis_port}/0",
    )


def server_stop(target: Target, keep: bool) -> None:
    if target.proc is None:
        return
    if target.proc.poll() is None:
        target.proc.send_signal(signal.SIGINT)
        try:
            target.proc.wait(60)
        except subprocess.TimeoutExpired:
            target.proc.kill()
            target.proc.wait(10)
    if target.data_dir is not None and not keep:
        import shutil

        shutil.rmtree(target.data_dir, ignore_errors=True)
        target.data_dir.with_name(target.data_dir.name + ".log").unlink(missing_ok=True)


def _gunicorn_root(target: Target) -> psutil.Process | None:
    roots: list[psutil.Process] = []
    if target.proc is not None:
        roots = [p for p in psutil.Process(target.proc.pid).children(recursive=True)]
    else:
        roots = list(psutil.process_iter())
    for proc in roots:
        try:
            cmd = " ".join(proc.cmdline())
            if (
                "gunicorn" in cmd
                and "config.wsgi" in cmd
                and proc.parent()
                and "gunicorn" not in " ".join(proc.parent().cmdline())
            ):
                return proc
        except psutil.Error:
            continue
    return None


def _postmaster(database_url: str) -> psutil.Process | None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
    try:
        return psutil.Process(pid).parent()
    except psutil.Error:
        return None


def tree_cpu(root: psutil.Process | None) -> float:
    """CPU seconds of a process and its children, including children that exited and were reaped."""
    if root is None:
        return 0.0
    try:
        times = root.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        for child in root.children(recursive=True):
            try:
                ct = child.cpu_times()
                total += ct.user + ct.system
            except psutil.Error:
                continue
        return total
    except psutil.Error:
        return 0.0


# --- measurement ----------------------------------------------------------------------------------------


@dataclass
class Run:
    kind: str
    batch: int
    clients: int
    spans: int
    repeat: int
    seconds: float = 0.0
    spans_per_second: float = 0.0
    requests: int = 0
    errors: int = 0
    stored: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    server_cpu_us_per_span: float | None = None
    pg_cpu_us_per_span: float | None = None
    busy_cores: float | None = None
    wire_bytes_per_span: float | None = None
    statuses: dict[str, int] = field(default_factory=dict)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _count(conn: psycopg.Connection[Any], project_id: int) -> int:
    row = conn.execute("SELECT count(*) FROM traces_observation WHERE project_id = %s", [project_id]).fetchone()
    return int(row[0]) if row else 0


def send(target: Target, bodies: list[bytes], clients: int) -> tuple[list[float], dict[str, int], float, float]:
    """Posts every body once, from `clients` threads sharing one queue; returns latencies and wall times."""
    lock = threading.Lock()
    cursor = iter(range(len(bodies)))
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    last = [0.0]
    headers = {"Content-Type": "application/x-protobuf", "Authorization": f"Basic {target.auth}"}

    def worker() -> None:
        with httpx.Client(base_url=target.url, headers=headers, timeout=120) as client:
            while True:
                with lock:
                    index = next(cursor, None)
                if index is None:
                    return
                started = time.perf_counter()
                try:
                    status = str(client.post("/v1/traces", content=bodies[index]).status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                done = time.perf_counter()
                with lock:
                    latencies.append(done - started)
                    statuses[status] = statuses.get(status, 0) + 1
                    last[0] = max(last[0], done)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    first = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, statuses, first, last[0]


def run_ours(target: Target, batch: int, clients: int, spans: int, repeat: int, seed: int) -> Run:
    load = workload(spans, batch, seed, time.time_ns() - 3600 * 10**9)
    run = Run("ours", batch, clients, load.spans, repeat, wire_bytes_per_span=load.wire_bytes / load.spans)
    gunicorn = _gunicorn_root(target)
    postmaster = _postmaster(target.database_url)
    with psycopg.connect(target.database_url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        before = _count(conn, target.project_id)
        cpu_server, cpu_pg = tree_cpu(gunicorn), tree_cpu(postmaster)
        wall0 = time.perf_counter()
        latencies, statuses, first, last = send(target, load.bodies, clients)
        stored = _count(conn, target.project_id) - before
        end = last
        deadline = time.monotonic() + 60
        while stored < load.spans and time.monotonic() < deadline:  # only if a 2xx were not durable
            time.sleep(0.05)
            stored = _count(conn, target.project_id) - before
            end = time.perf_counter()
        wall = time.perf_counter() - wall0
        cpu_server, cpu_pg = tree_cpu(gunicorn) - cpu_server, tree_cpu(postmaster) - cpu_pg
    run.seconds = end - first
    run.stored = stored
    run.spans_per_second = stored / run.seconds
    run.requests = len(latencies)
    run.statuses = statuses
    run.errors = sum(v for k, v in statuses.items() if k != "200")
    run.p50_ms, run.p95_ms, run.p99_ms = (round(_percentile(latencies, q) * 1000, 1) for q in (0.5, 0.95, 0.99))
    run.server_cpu_us_per_span = round(cpu_server / load.spans * 1e6, 1) if gunicorn else None
    run.pg_cpu_us_per_span = round(cpu_pg / load.spans * 1e6, 1) if postmaster else None
    run.busy_cores = round((cpu_server + cpu_pg) / wall, 2)
    return run


def settle(database_url: str, timeout: float = 90) -> None:
    """Waits (bounded) until no autovacuum worker runs: right after start-up and demo data, autovacuum/analyze
    of the fast-growing tables otherwise lands in the first measured runs (2x slower, 600 µs PG CPU per span)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
            ).fetchone()
            if not row or row[0] == 0:
                return
            time.sleep(1)
    _say("autovacuum still busy after the warm-up; measuring anyway")


# --- COPY baseline --------------------------------------------------------------------------------------


def _django_setup(target: Target) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only")
    os.environ["DATABASE_URL"] = target.database_url
    os.environ["REDIS_URL"] = target.redis_url
    import logging

    import django

    django.setup()
    logging.disable(logging.INFO)  # Django's logging config would print every httpx request and normalise event


CopyBatch = dict[str, list[tuple[Any, ...]]]  # table → rows of one batch


def _copy_columns() -> dict[str, tuple[list[str], list[str]]]:
    """COPY columns and binary types per stored table, in the write step's column order."""
    from traces.services import _OBSERVATION_COLUMNS, _TRACE_COLUMNS

    def typed(name: str, sql_type: str) -> str:
        return "character varying[]" if name == "tags" else sql_type  # binary arrays must name their element type

    return {
        "traces_observation": (
            ["project_id", *(name for name, _, _ in _OBSERVATION_COLUMNS)],
            ["bigint", *(typed(name, t) for name, t, _ in _OBSERVATION_COLUMNS)],
        ),
        "traces_trace": (
            ["project_id", *(name for name, _, _ in _TRACE_COLUMNS)],
            ["bigint", *(typed(name, t) for name, t, _ in _TRACE_COLUMNS)],
        ),
        "traces_session": (["project_id", "id"], ["bigint", "text"]),
    }


def copy_rows(bodies: list[bytes], project_id: int) -> list[CopyBatch]:
    """The rows the server stores for these bodies (same normaliser, token counts and prices), as COPY tuples per
    table, batch by batch.

    Trace rows get the rollups of the batch's own spans (the server computes them from every stored span,
    which for whole traces is the same); a trace or session already copied by an earlier batch is not copied
    again (COPY cannot merge), which leaves COPY slightly fewer rows than the server writes."""
    from datetime import timedelta
    from decimal import Decimal

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from traces.ingest.normalise import spans_normalise
    from traces.pricing import costs_compute
    from traces.services import _OBSERVATION_COLUMNS, _TRACE_COLUMNS, observations_merge
    from traces.tokens import usage_fill

    defaults = {"type": "SPAN", "level": "DEFAULT", "environment": "default", "public": False}
    seen_traces: set[str] = set()
    seen_sessions: set[str] = set()
    batches: list[CopyBatch] = []
    for body in bodies:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        normalised = spans_normalise(request)
        merged = observations_merge(normalised.observations)  # the server's steps before its write step
        usage_fill(observations=merged)
        costs_compute(project_id=project_id, observations=merged)
        observations = []
        by_trace: dict[str, list[Any]] = {}
        for obs in merged:
            by_trace.setdefault(obs.trace_id, []).append(obs)
            values = [project_id]
            for name, _, _ in _OBSERVATION_COLUMNS:
                value = getattr(obs, name)
                values.append(defaults.get(name) if value is None and name in defaults else value)
            observations.append(tuple(values))
        traces, sessions = [], []
        for trace in normalised.traces:
            if trace.id in seen_traces:
                continue
            seen_traces.add(trace.id)
            spans = by_trace.get(trace.id, [])
            end = max((o.end_time or o.start_time for o in spans), default=trace.timestamp)
            trace.end_time = max(end, trace.timestamp)
            trace.latency_ms = (trace.end_time - trace.timestamp) // timedelta(milliseconds=1)
            trace.total_cost = sum((o.total_cost or Decimal(0) for o in spans), Decimal(0)) or None
            trace.input_tokens = sum(o.input_tokens or 0 for o in spans)
            trace.output_tokens = sum(o.output_tokens or 0 for o in spans)
            trace.total_tokens = sum(o.total_tokens or 0 for o in spans)
            trace.observation_count = len(spans)
            trace.error_count = sum(o.level == "ERROR" for o in spans)
            values = [project_id]
            for name, _, _ in _TRACE_COLUMNS:
                value = getattr(trace, name)
                values.append(defaults.get(name) if value is None and name in defaults else value)
            traces.append(tuple(values))
            if trace.session_id and trace.session_id not in seen_sessions:
                seen_sessions.add(trace.session_id)
                sessions.append((project_id, trace.session_id))
        batches.append({"traces_observation": observations, "traces_trace": traces, "traces_session": sessions})
    return batches


def run_copy(target: Target, batch: int, spans: int, repeat: int, seed: int, *, every_table: bool) -> Run:
    """COPY BINARY of the normalised rows, one transaction per batch, into scratch tables LIKE ours (same
    types, keys and indexes): the observation rows alone ("copy"), or every row the server stores —
    observations, traces (with the trace list's search, metadata and tag indexes) and sessions ("copy-all")."""
    load = workload(spans, batch, seed, time.time_ns() - 3600 * 10**9)
    batches = copy_rows(load.bodies, target.project_id)
    tables = ["traces_observation", "traces_trace", "traces_session"] if every_table else ["traces_observation"]
    columns = _copy_columns()
    run = Run("copy-all" if every_table else "copy", batch, 1, load.spans, repeat)
    postmaster = _postmaster(target.database_url)
    with psycopg.connect(target.database_url) as conn:
        conn.autocommit = True
        for table in tables:
            conn.execute(f"CREATE TABLE IF NOT EXISTS bench_copy_{table} (LIKE {table} INCLUDING ALL)")
            conn.execute(f"TRUNCATE bench_copy_{table}")
        conn.execute("CHECKPOINT")
        conn.autocommit = False
        latencies: list[float] = []
        cpu_pg = tree_cpu(postmaster)
        first = time.perf_counter()
        for rows in batches:
            started = time.perf_counter()
            with conn.cursor() as cur:
                for table in tables:
                    names, types = columns[table]
                    statement = f"COPY bench_copy_{table} ({', '.join(names)}) FROM STDIN (FORMAT BINARY)"
                    with cur.copy(statement) as copy:  # type: ignore[arg-type]
                        copy.set_types(types)
                        for row in rows[table]:
                            copy.write_row(row)
            conn.commit()
            latencies.append(time.perf_counter() - started)
        run.seconds = time.perf_counter() - first
        cpu_pg = tree_cpu(postmaster) - cpu_pg
        conn.autocommit = True
        row = conn.execute("SELECT count(*) FROM bench_copy_traces_observation").fetchone()
        run.stored = int(row[0]) if row else 0
    run.spans_per_second = run.stored / run.seconds
    run.requests = len(batches)
    run.p50_ms, run.p95_ms, run.p99_ms = (round(_percentile(latencies, q) * 1000, 1) for q in (0.5, 0.95, 0.99))
    run.pg_cpu_us_per_span = round(cpu_pg / load.spans * 1e6, 1) if postmaster else None
    return run


# --- statements per request -----------------------------------------------------------------------------

_LOG_LINE = re.compile(r"\[(\d+)\].*?LOG:\s+(?:statement|execute [^:]*):\s+(\S+)")


def statements_per_request(target: Target, batch: int, requests: int, seed: int) -> dict[str, Any] | None:
    """Turns on log_statement=all for a few sequential requests and counts what the server's backends ran."""
    if target.pg_log is None or not target.pg_log.exists():
        return None
    load = workload(batch * requests, batch, seed, time.time_ns() - 7200 * 10**9)
    with psycopg.connect(target.database_url, autocommit=True) as conn:
        own_pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        conn.execute("ALTER SYSTEM SET log_statement = 'all'")
        conn.execute("SELECT pg_reload_conf()")
        time.sleep(1.0)
        offset = target.pg_log.stat().st_size
        try:
            _, statuses, _, _ = send(target, load.bodies, 1)
            time.sleep(1.0)
        finally:
            conn.execute("ALTER SYSTEM RESET log_statement")
            conn.execute("SELECT pg_reload_conf()")
    with open(target.pg_log, "rb") as log:
        log.seek(offset)
        text = log.read().decode("utf-8", "replace")
    kinds: dict[str, int] = {}
    for pid, verb in _LOG_LINE.findall(text):
        if int(pid) == own_pid:
            continue
        kinds[verb.upper()] = kinds.get(verb.upper(), 0) + 1
    total = sum(kinds.values())
    return {
        "batch": batch,
        "requests": requests,
        "statuses": statuses,
        "statements": total,
        "per_request": round(total / requests, 2),
        "by_verb": kinds,
    }


# --- report ---------------------------------------------------------------------------------------------


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 1) if present else None


def table(runs: list[Run]) -> str:
    def rate_of(kind: str, batch: int) -> float | None:
        return _median([x.spans_per_second for x in runs if x.kind == kind and x.batch == batch])

    lines = [
        "| scenario | spans/s e2e (median, min..max) | ÷ COPY (span rows) | ÷ COPY (every row) | ÷ Phoenix (~100/s) | "
        "p50 / p95 / p99 ms | server µs/span | PG µs/span | busy cores | errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    labels = {"copy": "COPY BINARY, span rows", "copy-all": "COPY BINARY, every row (spans, traces, sessions)"}
    keys = sorted({(r.kind, r.batch, r.clients) for r in runs}, key=lambda k: (k[0] != "ours", k[0], k[1], k[2]))
    for kind, batch, clients in keys:
        group = [r for r in runs if (r.kind, r.batch, r.clients) == (kind, batch, clients)]
        rates = [r.spans_per_second for r in group]
        rate = statistics.median(rates)
        ratios = []
        for base_kind in ("copy", "copy-all"):
            base = rate_of(base_kind, batch)
            ratios.append(f"{rate / base:.2f}" if base and kind != base_kind else "1" if kind == base_kind else "-")
        label = f"Sightline batch {batch}, {clients} client(s)" if kind == "ours" else f"{labels[kind]} batch {batch}"
        lines.append(
            f"| {label} | {rate:,.0f} ({min(rates):,.0f}..{max(rates):,.0f}) | {ratios[0]} | {ratios[1]} | "
            f"{rate / PHOENIX_SPANS_PER_SECOND:,.0f}x | "
            f"{_median([r.p50_ms for r in group])} / {_median([r.p95_ms for r in group])} / "
            f"{_median([r.p99_ms for r in group])} | {_median([r.server_cpu_us_per_span for r in group]) or '-'} | "
            f"{_median([r.pg_cpu_us_per_span for r in group])} | {_median([r.busy_cores for r in group]) or '-'} | "
            f"{sum(r.errors for r in group)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=20_000, help="spans per scenario run")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved repetitions; medians are reported")
    parser.add_argument("--url", help="a running Sightline (default: start `python -m config.run` on scratch ports)")
    parser.add_argument("--database-url", help="its PostgreSQL (required with --url)")
    parser.add_argument("--project-id", type=int, help="with --url: the project the key belongs to")
    parser.add_argument("--key", help="with --url: public_key:secret_key")
    parser.add_argument("--pg-log", type=Path, help="with --url: PostgreSQL's log file, for statements per request")
    parser.add_argument("--redis-url", help="with --url: its Redis (the COPY baselines read the price cache)")
    parser.add_argument("--warmup-spans", type=int, default=20_000, help="sent before measuring (not counted)")
    parser.add_argument("--explain", action="store_true", help="after the load, run bench.ui_indexes (~1M rows)")
    parser.add_argument("--explain-rows", type=int, default=1_000_000)
    parser.add_argument(
        "--source", type=Path, default=ROOT, help="checkout to run `config.run` from (e.g. a `git archive` snapshot)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch data dir")
    parser.add_argument("--only", choices=["ours", "copy"], help="run only one side of the matrix (copy: both COPYs)")
    parser.add_argument(
        "--batch", type=int, choices=[100, 1000], help="only this batch size (quick A/B runs; COPY at that size too)"
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))  # so `finally` stops the server

    if args.url:
        if not (args.database_url and args.project_id and args.key):
            parser.error("--url needs --database-url, --project-id and --key")
        if not args.url.startswith(("http://127.0.0.1", "http://localhost")):
            parser.error("traffic stays on 127.0.0.1")
        target = Target(
            url=args.url.rstrip("/"),
            database_url=args.database_url,
            project_id=args.project_id,
            auth=base64.b64encode(args.key.encode()).decode(),
            pg_log=args.pg_log,
            **({"redis_url": args.redis_url} if args.redis_url else {}),
        )
    else:
        target = server_start(args.source.resolve())
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"ingest-{stamp}.jsonl"
    runs: list[Run] = []
    extra: dict[str, Any] = {}
    try:
        _django_setup(target)
        _say(f"warm-up: {args.warmup_spans} spans, then wait for autovacuum to go idle")
        for batch in (100, 1000):
            warm = workload(max(args.warmup_spans // 2, batch), batch, 999 + batch, time.time_ns() - 7200 * 10**9)
            send(target, warm.bodies, 4)
        settle(target.database_url)
        plan = (SCENARIOS if args.only != "copy" else []) + (COPIES if args.only != "ours" else [])
        plan = [step for step in plan if args.batch in (None, step[1])]
        for repeat in range(args.repeat):
            order = plan[repeat % len(plan) :] + plan[: repeat % len(plan)]  # rotate: interleaved, varied order
            for kind, batch, clients in order:
                seed = hash((repeat, kind, batch, clients)) & 0xFFFFFFFF
                if kind == "ours":
                    run = run_ours(target, batch, clients, args.spans, repeat, seed)
                else:
                    run = run_copy(target, batch, args.spans, repeat, seed, every_table=kind == "copy-all")
                runs.append(run)
                with open(out, "a") as fh:
                    fh.write(json.dumps({"at": datetime.now(UTC).isoformat(), **asdict(run)}) + "\n")
                _say(
                    f"r{repeat} {kind} batch={batch} clients={clients}: {run.spans_per_second:,.0f} spans/s, "
                    f"p99 {run.p99_ms} ms, stored {run.stored}/{run.spans}, errors {run.errors}, "
                    f"server {run.server_cpu_us_per_span} µs/span, pg {run.pg_cpu_us_per_span} µs/span"
                )
        if args.only != "copy":
            extra["statements"] = [statements_per_request(target, b, 10, 4242 + b) for b in (100, 1000)]
            with open(out, "a") as fh:
                fh.write(json.dumps({"statements": extra["statements"]}) + "\n")
        if args.explain:
            from bench import ui_indexes

            extra["explain"] = ui_indexes.run(target.database_url, rows=args.explain_rows)
            with open(out, "a") as fh:
                fh.write(json.dumps({"explain": extra["explain"]}, default=str) + "\n")
    finally:
        if not args.url:
            server_stop(target, args.keep)
    print(f"\n## Ingestion, {args.spans:,} spans per run, median of {args.repeat} interleaved runs\n")
    print(table(runs))
    for probe in extra.get("statements") or []:
        if probe:
            print(
                f"\nStatements per request at batch {probe['batch']}: {probe['per_request']} "
                f"({probe['statements']} in {probe['requests']} requests: {probe['by_verb']})"
            )
    print(f"\nJSON lines: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
