"""Trace-explorer UI benchmark at a million traces: seed a scratch database, then measure server time per page.

    .venv/bin/python -m bench.ui --seed                  # 1,000,000 + 300,000 traces into sightline_bench_ui
    .venv/bin/python -m bench.ui --measure --runs 20 --search-runs 10   # p50/p95/max per page + EXPLAINs
    .venv/bin/python -m bench.ui --seed --traces 20000 --busy-traces 5000 --database-url postgres://…/sightline_bench_ui_small

--seed creates the database if needed, runs `manage.py migrate` on it, creates an organisation, users and two
projects with projects.services, then generates the traces in SQL (bench/ui_seed.sql: INSERT … SELECT
generate_series, one transaction per chunk, so an interrupted seed resumes at the next chunk; a finished seed
of the same size is skipped; --reseed drops the database first). The secondary indexes are dropped during the
load and rebuilt from their saved definitions afterwards, then VACUUM ANALYZE. A trace with 2,000 spans and two
1 MB payloads is added last, its rollups computed by traces.services.trace_rollups_refresh.

--measure runs `migrate` (new index migrations), signs a user in with django.test.Client (in-process, so the
figure is the server's time to produce the whole response, without network or browser), requests every case
--runs times after one warm-up, and reports p50/p95/max against the issue's targets (list and detail p95 < 150 ms,
full-text search p95 < 500 ms). One more request per case runs under CaptureQueriesContext: its query count,
SQL time, and the slowest EXPLAIN (ANALYZE, BUFFERS) of its reads of the trace tables (each one is re-run under
EXPLAIN) go to bench/results/ui-explain-<UTC>.txt; one JSON
line per case to bench/results/ui-<UTC>.jsonl. A URL name that does not resolve yet is "not built"; one that
still points at the projects app's getting-started placeholder is "placeholder".
Only ever against a local scratch database whose name contains "bench".
"""

# ruff: noqa: RUF001, RUF002 - multilingual sample text and typographic labels are the point

from __future__ import annotations

import argparse
import html
import json
import math
import os
import random
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SEED_SQL = Path(__file__).with_name("ui_seed.sql")
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/sightline_bench_ui"
TRACE_TABLES = ("traces_trace", "traces_observation", "traces_score", "traces_session")
CHUNK = 24_000  # a multiple of 60: sessions are made of 60-trace blocks, so none straddles two chunks
PARAGRAPHS = 400  # per language
SPAN_DAYS = 30
LIST_TARGET_MS = 150
SEARCH_TARGET_MS = 500
BENCH_EMAIL = "bench-ui@example.com"
# Rare phrases appended to the question of every trace g with g % modulus == residue (main project only).
NEEDLES: list[tuple[str, int, int]] = [
    ("zephyr-lantern-0093", 1_000_000, 777_777),
    ("quixotic-nebula-4471", 40_000, 12_345),
    ("marmalade-comet-2210", 4_000, 99),
    ("量子猫咪的秘密", 100_000, 4_242),
]
LARGE_TRACE_SPANS = 2_000


@dataclass(frozen=True)
class ProjectPlan:
    key: str  # "main" or "busy"
    name: str
    prefix: str  # salts the ids, so the two projects share no trace id
    traces: int
    users: int
    gs: int  # salts the hashes, so the two projects' distributions are independent
    needles: bool


def _say(message: str) -> None:
    print(f"[ui] {message}", file=sys.stderr, flush=True)


# --- the scratch database -------------------------------------------------------------------------------


def _database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def _check_scratch(url: str) -> None:
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"only a local scratch database, not {parts.hostname}")
    name = _database_name(url)
    if "bench" not in name or name.startswith("test"):
        raise SystemExit(f"refusing database {name!r}: the name must contain 'bench' (never the dev or test ones)")


def _admin_url(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/postgres"))


def _ensure_database(url: str, *, reseed: bool) -> None:
    name = _database_name(url)
    with psycopg.connect(_admin_url(url), autocommit=True) as conn:
        if reseed:
            _say(f"dropping database {name}")
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
            _say(f"created database {name}")


def _service_env(url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "SECRET_KEY": os.environ.get("SECRET_KEY", "x"),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "CACHE_KEY_PREFIX": "bench-ui",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }


def _migrate(url: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "1"], cwd=ROOT, env=_service_env(url), check=True
    )
    return time.perf_counter() - started


def _django(url: str) -> None:
    os.environ.update(_service_env(url))
    import django

    django.setup()


def _state(conn: psycopg.Connection[Any], key: str) -> Any:
    row = conn.execute("SELECT value FROM bench_ui_state WHERE key = %s", [key]).fetchone()
    return row[0] if row else None


def _state_put(conn: psycopg.Connection[Any], key: str, value: Any) -> None:
    conn.execute(
        "INSERT INTO bench_ui_state (key, value) VALUES (%s, %s::jsonb) "
        "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        [key, json.dumps(value, default=str)],
    )


# --- seeding ----------------------------------------------------------------------------------------------


def _plans(traces: int, busy_traces: int) -> list[ProjectPlan]:
    return [
        ProjectPlan("main", "Support bot (1M traces)", "m", traces, 20_000, 0, True),
        ProjectPlan("busy", "Busy neighbour", "b", busy_traces, 8_000, 100_000_000, False),
    ]


def _expand_macros(sql: str, gs: int) -> str:
    """H(i): a non-negative pseudo-random int per trace g; HO(i): per observation (g, k)."""
    sql = re.sub(r"\bHO\((\d+)\)", rf"(hashint8(((g::bigint + {gs}) * 16 + k) * 64 + \1) & 2147483647)", sql)
    return re.sub(r"\bH\((\d+)\)", rf"(hashint8((g::bigint + {gs}) * 64 + \1) & 2147483647)", sql)


def _needle_sql(plan: ProjectPlan) -> str:
    if not plan.needles:
        return "''"
    arms = " ".join(f"WHEN mod(g, {mod}) = {res} THEN ' Reference: {phrase}.'" for phrase, mod, res in NEEDLES)
    return f"CASE {arms} ELSE '' END"


def needle_counts(traces: int) -> dict[str, int]:
    """How many traces of the main project carry each needle (the CASE takes the first arm that matches)."""
    counts = dict.fromkeys((phrase for phrase, _, _ in NEEDLES), 0)
    for g in range(traces):
        for phrase, mod, res in NEEDLES:
            if g % mod == res:
                counts[phrase] += 1
                break
    return counts


def _create_tenancy(plans: list[ProjectPlan]) -> dict[str, Any]:
    from projects.models import User
    from projects.services import organization_create, project_create, user_create

    owner = User.objects.filter(email=BENCH_EMAIL).first() or user_create(
        email=BENCH_EMAIL, password=None, name="Bench UI"
    )
    viewer = User.objects.filter(email="bench-ui-viewer@example.com").first() or user_create(
        email="bench-ui-viewer@example.com", password=None, name="Bench viewer"
    )
    organization = organization_create(name="Bench UI", owner=owner)
    from projects.models import Membership, Role

    Membership.objects.get_or_create(organization=organization, user=viewer, defaults={"role": Role.VIEWER})
    projects = {plan.key: project_create(organization=organization, name=plan.name, actor=owner).id for plan in plans}
    return {"owner_id": owner.id, "email": owner.email, "organization_id": organization.id, **projects}


def _prepare_tables(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS bench_ui_state (key text PRIMARY KEY, value jsonb NOT NULL)")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS bench_ui_text (lang int, n int, body text NOT NULL, PRIMARY KEY (lang, n))"
    )
    if conn.execute("SELECT count(*) FROM bench_ui_text").fetchone() == (0,):
        with conn.cursor().copy("COPY bench_ui_text (lang, n, body) FROM STDIN") as copy:
            for row in paragraphs(PARAGRAPHS):
                copy.write_row(row)
    conn.commit()


def _drop_secondary_indexes(conn: psycopg.Connection[Any]) -> None:
    """Saves and drops the non-constraint indexes: building them once after the load is far cheaper than
    maintaining them row by row (the GIN on tags above all). The definitions stay in bench_ui_state until
    they are rebuilt, so an interrupted seed still restores them."""
    if _state(conn, "index_defs") is None:
        rows = conn.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = 'public' "
            "AND i.tablename = ANY(%s) AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname) "
            "ORDER BY i.tablename, i.indexname",
            [list(TRACE_TABLES)],
        ).fetchall()
        _state_put(conn, "index_defs", [{"name": name, "sql": sql} for name, sql in rows])
        conn.commit()
    for index in _state(conn, "index_defs"):
        conn.execute(f'DROP INDEX IF EXISTS "{index["name"]}"')
    conn.commit()


def _rebuild_indexes(conn: psycopg.Connection[Any]) -> None:
    for index in _state(conn, "index_defs") or []:
        started = time.perf_counter()
        sql = re.sub(r"^CREATE (UNIQUE )?INDEX ", r"CREATE \1INDEX IF NOT EXISTS ", index["sql"])
        conn.execute(sql)
        conn.commit()
        _say(f"index {index['name']} built in {time.perf_counter() - started:.0f} s")
    conn.execute("DELETE FROM bench_ui_state WHERE key = 'index_defs'")
    conn.commit()


def _seed_project(conn: psycopg.Connection[Any], plan: ProjectPlan, *, project_id: int, t0: str, author: int) -> None:
    sql = _expand_macros(SEED_SQL.read_text(), plan.gs).replace("%(needle)s", _needle_sql(plan))
    chunks = math.ceil(plan.traces / CHUNK)
    progress = _state(conn, "progress") or {}
    done = progress.get(plan.key, 0)
    if done:
        _say(f"{plan.key}: resuming at chunk {done + 1} of {chunks}")
    for chunk in range(done, chunks):
        started = time.perf_counter()
        params = {
            "prefix": plan.prefix,
            "pid": project_id,
            "lo": chunk * CHUNK,
            "hi": min(plan.traces, (chunk + 1) * CHUNK) - 1,
            "n": plan.traces,
            "t0": t0,
            "step_ms": SPAN_DAYS * 86_400_000 / plan.traces,
            "gs": plan.gs,
            "users": plan.users,
            "paragraphs": PARAGRAPHS,
            "system": SYSTEM_PROMPT,
            "author": author,
        }
        row = conn.execute(sql, params).fetchone()
        assert row is not None
        seconds = time.perf_counter() - started
        progress[plan.key] = chunk + 1
        _state_put(conn, "progress", progress)
        _state_put(conn, "elapsed", float(_state(conn, "elapsed") or 0) + seconds)
        conn.commit()
        left = (chunks - chunk - 1) * seconds
        _say(
            f"{plan.key} chunk {chunk + 1}/{chunks}: {row[0]:,} traces, {row[1]:,} observations, {row[2]:,} sessions, "
            f"{row[3]:,} scores in {seconds:.1f} s ({row[0] / seconds:,.0f} traces/s); ~{left / 60:.0f} min left"
        )


_LARGE_SQL = """
WITH pr AS (SELECT id, (prices ->> 'input')::numeric AS pin, (prices ->> 'output')::numeric AS pout
            FROM traces_modelprice WHERE project_id IS NULL AND model_name = 'gpt-4o-mini'),
o AS (
    SELECT k,
           CASE WHEN k = 0 THEN 'AGENT' WHEN k IN (10, 11) THEN (ARRAY['GENERATION', 'TOOL'])[k - 9]
                WHEN mod(k - 1, 50) = 0 THEN 'CHAIN'
                ELSE (ARRAY['GENERATION', 'TOOL', 'RETRIEVER', 'SPAN'])[1 + mod(k, 4)] END AS otype,
           CASE WHEN k = 0 THEN NULL WHEN mod(k - 1, 50) = 0 THEN 'large-0000'
                ELSE 'large-' || lpad((((k - 1) / 50) * 50 + 1)::text, 4, '0') END AS parent,
           %(ts)s::timestamptz + k * interval '40 ms' AS ostart,
           CASE WHEN k = 0 THEN %(ts)s::timestamptz + (%(spans)s::int * 40 + 100) * interval '1 ms'
                WHEN mod(k - 1, 50) = 0 THEN %(ts)s::timestamptz + (k + 50) * interval '40 ms'
                ELSE %(ts)s::timestamptz + k * interval '40 ms' + interval '35 ms' END AS oend,
           (SELECT body FROM bench_ui_text WHERE lang = 0 AND n = mod(k, 400)) AS q,
           (SELECT body FROM bench_ui_text WHERE lang = 0 AND n = mod(k * 7, 400)) AS a
    FROM generate_series(0, %(spans)s::int - 1) AS k
)
INSERT INTO traces_observation (project_id, id, trace_id, parent_id, type, name, start_time, end_time, level,
                                status_message, model, input, output, usage, input_tokens, output_tokens,
                                total_tokens, cost, total_cost, cost_source, price_id, environment)
SELECT %(pid)s::bigint, 'large-' || lpad(k::text, 4, '0'), %(tid)s::text, parent, otype,
       CASE otype WHEN 'CHAIN' THEN 'research_step_' || ((k - 1) / 50) ELSE lower(otype) || '_' || k END,
       ostart, oend, CASE WHEN mod(k, 397) = 0 THEN 'ERROR' ELSE 'DEFAULT' END,
       CASE WHEN mod(k, 397) = 0 THEN 'Tool returned HTTP 500' END,
       CASE WHEN otype = 'GENERATION' THEN 'gpt-4o-mini' END,
       CASE WHEN k = 10 THEN jsonb_build_array(jsonb_build_object('role', 'user', 'content',
                                 repeat(q || ' ', 1000000 / (length(q) + 1) + 1)))
            WHEN otype = 'GENERATION' THEN jsonb_build_array(
                jsonb_build_object('role', 'system', 'content', %(system)s::text),
                jsonb_build_object('role', 'user', 'content', q))
            ELSE jsonb_build_object('query', left(q, 120)) END,
       CASE WHEN k = 11 THEN jsonb_build_object('page', repeat(a || ' ', 1000000 / (length(a) + 1) + 1))
            WHEN otype = 'GENERATION' THEN jsonb_build_object('role', 'assistant', 'content', a)
            WHEN otype = 'RETRIEVER' THEN jsonb_build_array(
                jsonb_build_object('id', 'doc-' || k, 'content', left(a, 240)))
            ELSE NULL END,
       CASE WHEN otype = 'GENERATION' THEN jsonb_build_object('input', 800 + k, 'output', 120, 'total', 920 + k) END,
       CASE WHEN otype = 'GENERATION' THEN 800 + k END,
       CASE WHEN otype = 'GENERATION' THEN 120 END,
       CASE WHEN otype = 'GENERATION' THEN 920 + k END,
       CASE WHEN otype = 'GENERATION' THEN jsonb_build_object('input', round((800 + k) * pr.pin, 12),
           'output', round(120 * pr.pout, 12), 'total', round((800 + k) * pr.pin, 12) + round(120 * pr.pout, 12)) END,
       CASE WHEN otype = 'GENERATION' THEN round((800 + k) * pr.pin, 12) + round(120 * pr.pout, 12) END,
       CASE WHEN otype = 'GENERATION' THEN 'computed' END,
       CASE WHEN otype = 'GENERATION' THEN pr.id END,
       'production'
FROM o CROSS JOIN pr
ON CONFLICT DO NOTHING
"""


def _seed_large_trace(conn: psycopg.Connection[Any], *, project_id: int, t0: str) -> str:
    """One trace of LARGE_TRACE_SPANS spans (40 steps × 50) with two 1 MB payloads, in the main project."""
    from traces.services import trace_rollups_refresh

    trace_id = "bench-largest-trace-" + "0" * 12
    ts = datetime.fromisoformat(t0) - timedelta(hours=2)
    conn.execute(
        _LARGE_SQL,
        {"pid": project_id, "tid": trace_id, "ts": ts, "spans": LARGE_TRACE_SPANS, "system": SYSTEM_PROMPT},
    )
    conn.execute(
        "INSERT INTO traces_trace (project_id, id, name, timestamp, user_id, session_id, tags, metadata, input, output,"
        " environment, release, version) VALUES (%s, %s, 'deep_research_agent', %s, 'user_00001', 'sess_largest',"
        " ARRAY['long-run', 'eval']::varchar[], '{\"tenant\": \"tenant-001\", \"steps\": 40}', %s::jsonb, %s::jsonb,"
        " 'production', 'v2.11', 'v2.11') ON CONFLICT DO NOTHING",
        [
            project_id,
            trace_id,
            ts,
            json.dumps([{"role": "user", "content": "Research the refund rules of every EU country."}]),
            json.dumps({"role": "assistant", "content": "A 40-step report; see the spans."}),
        ],
    )
    conn.execute(
        "INSERT INTO traces_session (project_id, id, environment, created_at) VALUES (%s, 'sess_largest', "
        "'production', %s) ON CONFLICT DO NOTHING",
        [project_id, ts],
    )
    conn.commit()
    trace_rollups_refresh(project_id=project_id, trace_ids=[trace_id])
    return trace_id


_ROLLUP_CHECK_SQL = """
WITH s AS (SELECT * FROM traces_trace WHERE project_id = %(pid)s AND timestamp < %(before)s
           ORDER BY timestamp DESC LIMIT 2000),
a AS (SELECT o.trace_id, max(COALESCE(o.end_time, o.start_time)) AS e, sum(o.total_cost) AS c,
             COALESCE(sum(o.input_tokens), 0) AS it, COALESCE(sum(o.output_tokens), 0) AS ot,
             COALESCE(sum(o.total_tokens), 0) AS tt, count(*) AS n, count(*) FILTER (WHERE o.level = 'ERROR') AS err
      FROM traces_observation o JOIN s ON o.project_id = s.project_id AND o.trace_id = s.id GROUP BY o.trace_id)
SELECT count(*), count(*) FILTER (WHERE s.end_time IS DISTINCT FROM GREATEST(a.e, s.timestamp)
    OR s.latency_ms <> (EXTRACT(EPOCH FROM (GREATEST(a.e, s.timestamp) - s.timestamp)) * 1000)::bigint
    OR s.total_cost IS DISTINCT FROM a.c OR s.input_tokens <> a.it OR s.output_tokens <> a.ot
    OR s.total_tokens <> a.tt OR s.observation_count <> a.n OR s.error_count <> a.err)
FROM s JOIN a ON a.trace_id = s.id
"""


def _sizes(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    tables = {}
    for table in TRACE_TABLES:
        row = conn.execute(
            "SELECT pg_total_relation_size(%(t)s), pg_relation_size(%(t)s), "
            "pg_total_relation_size(%(t)s) - pg_relation_size(%(t)s) - pg_indexes_size(%(t)s), pg_indexes_size(%(t)s),"
            " (SELECT reltuples::bigint FROM pg_class WHERE oid = %(t)s::regclass)",
            {"t": table},
        ).fetchone()
        assert row is not None
        tables[table] = {"total": row[0], "heap": row[1], "toast": row[2], "indexes": row[3], "rows_estimate": row[4]}
    indexes = conn.execute(
        "SELECT indexrelname, pg_relation_size(indexrelid) FROM pg_stat_user_indexes "
        "WHERE relname = ANY(%s) ORDER BY pg_relation_size(indexrelid) DESC",
        [list(TRACE_TABLES)],
    ).fetchall()
    database = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    assert database is not None
    return {"database": database[0], "tables": tables, "indexes": dict(indexes)}


def _counts(conn: psycopg.Connection[Any], projects: dict[str, Any]) -> dict[str, Any]:
    counts = {}
    for key in ("main", "busy"):
        pid = projects[key]
        row = conn.execute(
            "SELECT (SELECT count(*) FROM traces_trace WHERE project_id = %(p)s),"
            " (SELECT count(*) FROM traces_observation WHERE project_id = %(p)s),"
            " (SELECT count(*) FROM traces_session WHERE project_id = %(p)s),"
            " (SELECT count(*) FROM traces_score WHERE project_id = %(p)s),"
            " (SELECT count(DISTINCT user_id) FROM traces_trace WHERE project_id = %(p)s),"
            " (SELECT count(*) FROM traces_trace WHERE project_id = %(p)s AND error_count > 0)",
            {"p": pid},
        ).fetchone()
        assert row is not None
        counts[key] = dict(
            zip(("traces", "observations", "sessions", "scores", "users", "traces_with_errors"), row, strict=True)
        )
    return counts


def _mb(size: int) -> str:
    return f"{size / 1024**3:.2f} GB" if size >= 1024**3 else f"{size / 1024**2:.0f} MB"


def _print_seed_report(done: dict[str, Any]) -> None:
    print(f"\n## Seeded {done['finished']} in {done['seed_seconds'] / 60:.1f} min\n")
    print("| project | traces | observations | sessions | users | scores | traces with errors |")
    print("|---|---|---|---|---|---|---|")
    for key, c in done["counts"].items():
        print(
            f"| {key} | {c['traces']:,} | {c['observations']:,} | {c['sessions']:,} | {c['users']:,} | "
            f"{c['scores']:,} | {c['traces_with_errors']:,} |"
        )
    sizes = done["sizes"]
    print(f"\nDatabase: {_mb(sizes['database'])}\n")
    print("| table | total | heap | TOAST | indexes |")
    print("|---|---|---|---|---|")
    for table, s in sizes["tables"].items():
        print(f"| {table} | {_mb(s['total'])} | {_mb(s['heap'])} | {_mb(s['toast'])} | {_mb(s['indexes'])} |")
    print("\nIndexes: " + ", ".join(f"{name} {_mb(size)}" for name, size in sizes["indexes"].items()))
    print(f"\nNeedles in the main project: {done['needles']}")
    print(f"Rollup check (2,000 traces recomputed from their observations): {done['rollup_check']}")


def seed(url: str, *, traces: int, busy_traces: int, reseed: bool) -> dict[str, Any]:
    _ensure_database(url, reseed=reseed)
    _say("migrate")
    _migrate(url)
    _django(url)
    plans = _plans(traces, busy_traces)
    wanted = {"traces": traces, "busy_traces": busy_traces, "chunk": CHUNK, "paragraphs": PARAGRAPHS}
    with psycopg.connect(url) as conn:
        _prepare_tables(conn)
        plan = _state(conn, "plan")
        if plan is not None and {k: plan.get(k) for k in wanted} != wanted:
            raise SystemExit(f"{_database_name(url)} was seeded with {plan}; pass --reseed to start over")
        done = _state(conn, "done")
        if done is not None:
            _say("already seeded at this size (--reseed to start over)")
            _print_seed_report(done)
            return done
        if plan is None:
            plan = {**wanted, "t0": datetime.now(UTC).replace(microsecond=0).isoformat()}
            plan["projects"] = _create_tenancy(plans)
            _state_put(conn, "plan", plan)
            conn.commit()
        conn.execute("SET work_mem = '256MB'")
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("SET synchronous_commit = off")  # this session only: scratch rows, one commit per chunk
        conn.execute("SET jit = off")
        conn.commit()
        projects = plan["projects"]
        _drop_secondary_indexes(conn)
        for project in plans:
            _seed_project(conn, project, project_id=projects[project.key], t0=plan["t0"], author=projects["owner_id"])
        started = time.perf_counter()
        _say("rebuilding the secondary indexes")
        _rebuild_indexes(conn)
        large = _seed_large_trace(conn, project_id=projects["main"], t0=plan["t0"])
        conn.commit()
        _say("VACUUM ANALYZE")
        conn.autocommit = True
        for table in TRACE_TABLES:
            conn.execute(f"VACUUM (ANALYZE) {table}")
        conn.autocommit = False
        elapsed = float(_state(conn, "elapsed") or 0) + time.perf_counter() - started
        before = datetime.fromisoformat(plan["t0"]) - timedelta(days=3)
        check = conn.execute(_ROLLUP_CHECK_SQL, {"pid": projects["main"], "before": before}).fetchone()
        assert check is not None
        done = {
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "seed_seconds": round(elapsed, 1),
            "counts": _counts(conn, projects),
            "sizes": _sizes(conn),
            "needles": needle_counts(traces),
            "large_trace": large,
            "rollup_check": f"{check[0]} traces, {check[1]} mismatches",
        }
        _state_put(conn, "done", done)
        conn.commit()
    _print_seed_report(done)
    return done


# --- measuring ------------------------------------------------------------------------------------------


@dataclass
class Case:
    label: str
    kind: str  # list | search | detail | fragment | sessions | users
    url_name: str
    args: list[Any]
    query: list[tuple[str, str]] = field(default_factory=list)
    rows: str = r"/trace/"  # what a row's link looks like, to count the rows shown
    page2: bool = False  # follow the first page's "next" link
    htmx: bool = False  # sent as htmx sends it (fragments redirect a plain GET to their page)

    @property
    def target_ms(self) -> int:
        return SEARCH_TARGET_MS if self.kind == "search" else LIST_TARGET_MS


def _sample(conn: psycopg.Connection[Any], plan: dict[str, Any]) -> dict[str, Any]:
    """Ids and values to filter by, picked from the data (the seed is deterministic, so they are stable)."""
    pid = plan["projects"]["main"]

    def one(sql: str, *params: Any) -> Any:
        row = conn.execute(sql, params).fetchone()
        assert row is not None, sql
        return row[0]

    def trace_at(offset: int) -> str:
        return one(
            "SELECT id FROM traces_trace WHERE project_id = %s ORDER BY timestamp DESC OFFSET %s LIMIT 1", pid, offset
        )

    traces = plan["traces"]
    typical = [trace_at(min(traces - 1, n)) for n in (100, traces // 3, traces - 1000)]
    generation = one(
        "SELECT id FROM traces_observation WHERE project_id = %s AND trace_id = %s AND type = 'GENERATION' "
        "ORDER BY start_time DESC LIMIT 1",
        pid,
        typical[0],
    )
    session = one(
        "SELECT session_id FROM traces_trace WHERE project_id = %s AND session_id IS NOT NULL "
        "ORDER BY timestamp DESC OFFSET %s LIMIT 1",
        pid,
        traces // 10,
    )
    user = one(
        "SELECT user_id FROM traces_trace WHERE project_id = %s ORDER BY timestamp DESC OFFSET %s LIMIT 1",
        pid,
        traces // 50,  # inside the default 7-day range
    )
    t0 = datetime.fromisoformat(plan["t0"])
    return {
        "user": user,
        "pid": pid,
        "busy": plan["projects"]["busy"],
        "typical": typical,
        "generation": generation,
        "session": session,
        "large": "bench-largest-trace-" + "0" * 12,
        "from": (t0 - timedelta(days=10, hours=6)).isoformat(),
        "to": (t0 - timedelta(days=10)).isoformat(),
    }


def cases(s: dict[str, Any]) -> list[Case]:
    pid = s["pid"]

    def lst(label: str, *query: tuple[str, str], page2: bool = False) -> Case:
        return Case(label, "list", "trace-list", [pid], list(query), page2=page2)

    def search(label: str, text: str, *query: tuple[str, str]) -> Case:
        return Case(f"search: {label}", "search", "trace-list", [pid], [("q", text), *query])

    everything = ("range", "all")

    large = s["large"]
    return [
        lst("list: no filter (default range)"),
        lst("list: range=all", everything),
        Case("list: no filter, busy project", "list", "trace-list", [s["busy"]]),
        lst("list: range=1h", ("range", "1h")),
        lst("list: range=24h", ("range", "24h")),
        lst("list: range=7d", ("range", "7d")),
        lst("list: range=30d", ("range", "30d")),
        lst("list: from/to (6 h, 10 days ago)", ("from", s["from"]), ("to", s["to"])),
        lst("list: name=classify_ticket (5%)", ("name", "classify_ticket")),
        lst("list: user (power user)", ("user", "user_00000")),
        lst("list: user (typical)", ("user", s["user"])),
        lst("list: session", ("session", s["session"])),
        lst("list: tag=vip (1%)", ("tag", "vip")),
        lst("list: tag=billing&tag=beta", ("tag", "billing"), ("tag", "beta")),
        lst("list: env=development (5%)", ("env", "development")),
        lst("list: release=v2.3", ("release", "v2.3")),
        lst("list: release=v2.11 (newest, 8%)", ("release", "v2.11")),
        lst("list: model=claude-sonnet-4-5", ("model", "claude-sonnet-4-5")),
        lst("list: model=llama-3.1-70b-instruct", ("model", "llama-3.1-70b-instruct")),
        lst("list: level=ERROR", ("level", "ERROR")),
        lst("list: level=WARNING (span level, 15%)", ("level", "WARNING")),
        lst("list: errors=1 (3%)", ("errors", "1")),
        lst("list: score=quality, min 0.9", ("score", "quality"), ("score_min", "0.9")),
        lst("list: score=correctness, max 0", ("score", "correctness"), ("score_max", "0")),
        lst("list: score=correctness, label incorrect", ("score", "correctness"), ("score_value", "incorrect")),
        lst("list: score=user_feedback, label False (0.6%)", ("score", "user_feedback"), ("score_value", "False")),
        lst("list: cost 0.001–0.002 USD", ("cost_min", "0.001"), ("cost_max", "0.002")),
        lst("list: cost_min=0.05 USD", ("cost_min", "0.05")),
        lst("list: latency_min=30000 ms (tail)", ("latency_min", "30000")),
        lst("list: latency 1000–2000 ms", ("latency_min", "1000"), ("latency_max", "2000")),
        lst("list: meta tenant=tenant-042 (0.5%)", ("meta", "tenant=tenant-042")),
        lst("list: meta region=eu-west-1", ("meta", "region=eu-west-1")),
        lst("list: starred=1 (0.4%)", ("starred", "1")),
        lst("list: sort=time", ("sort", "time")),
        lst("list: sort=-latency", ("sort", "-latency")),
        lst("list: sort=latency", ("sort", "latency")),
        lst("list: sort=-cost", ("sort", "-cost")),
        lst("list: sort=cost", ("sort", "cost")),
        lst("list: sort=-tokens", ("sort", "-tokens")),
        lst("list: sort=tokens", ("sort", "tokens")),
        lst("list: sort=-cost, range=all", ("sort", "-cost"), everything),
        lst("list: page 2 (cursor)", page2=True),
        lst("list: page 2 of sort=-latency", ("sort", "-latency"), page2=True),
        lst("list: env+name+range=7d", ("env", "production"), ("name", "rag_query"), ("range", "7d")),
        search("English 'refund'", "refund"),
        search("English 'customs clearance'", "customs clearance"),
        search("accented 'réservation'", "réservation"),
        search("CJK '退款'", "退款"),
        search("Arabic 'الفاتورة'", "الفاتورة"),
        search("needle ×1 'zephyr-lantern-0093'", "zephyr-lantern-0093"),
        search("needle ×25 'quixotic-nebula-4471'", "quixotic-nebula-4471"),
        search("CJK needle ×10 '量子猫咪的秘密'", "量子猫咪的秘密"),
        search("no match", "xylophone-qqzv-0000"),
        search("common words, phrase absent 'refund rotterdam'", "refund rotterdam"),
        search("'refund' + range=24h", "refund", ("range", "24h")),
        search("English 'refund', all time", "refund", everything),
        search("CJK '退款', all time", "退款", everything),
        search("Arabic 'الفاتورة', all time", "الفاتورة", everything),
        search("needle ×1, all time", "zephyr-lantern-0093", everything),
        search("needle ×25, all time", "quixotic-nebula-4471", everything),
        search("needle ×250, all time", "marmalade-comet-2210", everything),
        search("CJK needle ×10, all time", "量子猫咪的秘密", everything),
        search("no match, all time", "xylophone-qqzv-0000", everything),
        search("common words, phrase absent, all time", "refund rotterdam", everything),
        Case("detail: recent trace", "detail", "trace-detail", [pid, s["typical"][0]], rows="observation="),
        Case("detail: trace 1/3 back", "detail", "trace-detail", [pid, s["typical"][1]], rows="observation="),
        Case("detail: oldest traces", "detail", "trace-detail", [pid, s["typical"][2]], rows="observation="),
        Case(
            "detail: recent trace, generation selected",
            "detail",
            "trace-detail",
            [pid, s["typical"][0]],
            [("observation", s["generation"])],
            rows="observation=",
        ),
        Case("detail: largest trace (2,000 spans)", "detail", "trace-detail", [pid, large], rows="observation="),
        Case(
            "fragment: span body (generation)",
            "fragment",
            "observation-body",
            [pid],
            [("trace_id", s["typical"][0]), ("id", s["generation"])],
            rows="role",
            htmx=True,
        ),
        Case(
            "fragment: span body (1 MB input)",
            "fragment",
            "observation-body",
            [pid],
            [("trace_id", large), ("id", "large-0010")],
            rows="role",
            htmx=True,
        ),
        Case("sessions: list", "sessions", "session-list", [pid], rows=r"/session/"),
        Case("sessions: list page 2", "sessions", "session-list", [pid], rows=r"/session/", page2=True),
        Case("sessions: session page", "sessions", "session-detail", [pid, s["session"]], rows=r"/trace/"),
        Case("users: list", "users", "user-list", [pid], rows=r"/user/"),
        Case("users: list page 2", "users", "user-list", [pid], rows=r"/user/", page2=True),
        Case("users: power user page", "users", "user-detail", [pid, "user_00000"], rows=r"/trace/"),
        Case("users: typical user page", "users", "user-detail", [pid, s["user"]], rows=r"/trace/"),
    ]


@dataclass
class Result:
    case: Case
    status: str = "ok"
    url: str = ""
    times_ms: list[float] = field(default_factory=list)
    queries: int = 0
    sql_ms: float = 0.0
    rows: int = 0
    kb: float = 0.0
    slowest_sql: str = ""
    slowest_ms: float = 0.0
    explain: list[str] = field(default_factory=list)

    def pct(self, p: float) -> float:
        ordered = sorted(self.times_ms)
        return ordered[min(len(ordered) - 1, math.ceil(p * len(ordered)) - 1)] if ordered else float("nan")

    @property
    def verdict(self) -> str:
        if self.status != "ok":
            return self.status
        return "pass" if self.pct(0.95) < self.case.target_ms else "**FAIL**"


def _body(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


_NEXT_LINK = re.compile(r'<a\b[^>]*\bhref="([^"]*)"[^>]*\brel="next"')


def _measure_case(client: Any, case: Case, runs: int, explain_conn: psycopg.Connection[Any]) -> Result:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.urls import NoReverseMatch, resolve, reverse

    result = Result(case)
    try:
        path = reverse(case.url_name, args=case.args)
    except NoReverseMatch:
        result.status = "not built"
        return result
    if resolve(urlsplit(path).path).func.__module__.startswith("projects."):
        result.status = "placeholder"
        return result
    url = path + ("?" + urlencode(case.query) if case.query else "")

    def get(target: str) -> tuple[float, Any, bytes]:
        started = time.perf_counter()
        response = client.get(target, headers={"HX-Request": "true"} if case.htmx else None)
        body = _body(response)
        return (time.perf_counter() - started) * 1000, response, body

    try:
        _, response, body = get(url)  # warm-up (templates compile, the plan caches fill)
        if case.page2:
            match = _NEXT_LINK.search(body.decode("utf-8", "replace"))
            if match is None:
                result.status = "no cursor link"
                result.url = url
                return result
            url = urljoin(url, html.unescape(match.group(1)))
            _, response, body = get(url)
        result.url = url
        if response.status_code != 200:
            result.status = f"HTTP {response.status_code}"
            return result
        for _ in range(runs):
            ms, response, body = get(url)
            result.times_ms.append(ms)
        with CaptureQueriesContext(connection) as captured:
            _, response, body = get(url)
    except Exception as exc:  # a page that raises is reported, the other cases still run
        result.status = f"error: {type(exc).__name__}: {str(exc)[:120]}"
        return result
    text = body.decode("utf-8", "replace")
    result.kb = len(body) / 1024
    result.rows = len(set(re.findall(r'(?:href|hx-get)="([^"]*' + case.rows + r'[^"]*)"', text)))
    result.queries = len(captured.captured_queries)
    result.sql_ms = sum(float(q["time"]) for q in captured.captured_queries) * 1000
    # The slowest query is chosen by EXPLAIN ANALYZE of every read on the trace tables, not by the captured
    # timings: those have millisecond resolution and on a busy host often rank an auth lookup first.
    reads = [q["sql"] for q in captured.captured_queries if q["sql"].lstrip().upper().startswith(("SELECT", "WITH"))]
    for sql in [q for q in reads if '"traces_' in q] or reads:
        try:
            plan = [r[0] for r in explain_conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql).fetchall()]
        except psycopg.Error as exc:
            plan = [f"EXPLAIN failed: {exc}", "Execution Time: 0 ms"]
        explain_conn.rollback()
        executed = next((float(line.split()[-2]) for line in plan if line.startswith("Execution Time")), 0.0)
        if executed >= result.slowest_ms:
            result.slowest_sql, result.slowest_ms, result.explain = sql, executed, plan
    return result


def measure(url: str, *, runs: int, search_runs: int | None, only: str | None) -> list[Result]:
    _check_scratch(url)
    with psycopg.connect(url) as conn:
        done = _state(conn, "done")
        plan = _state(conn, "plan")
    if done is None:
        raise SystemExit("the scratch database is not seeded (run --seed first, or wait for it to finish)")
    _say(f"migrate ({_migrate(url):.0f} s)")
    _django(url)
    from django.test import Client

    from projects.models import User

    with psycopg.connect(url) as conn:
        sample = _sample(conn, plan)
        conn.rollback()
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(User.objects.get(email=BENCH_EMAIL))
        results = []
        for case in cases(sample):
            if only and only.lower() not in case.label.lower():
                continue
            n = search_runs if case.kind == "search" and search_runs is not None else runs
            result = _measure_case(client, case, n, conn)
            _say(
                f"{case.label}: {result.status}"
                + (f", p95 {result.pct(0.95):.0f} ms, {result.queries} queries" if result.times_ms else "")
            )
            results.append(result)
    _report(results, done=done)
    return results


def _report(results: list[Result], *, done: dict[str, Any]) -> None:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(parents=True, exist_ok=True)
    main = done["counts"]["main"]
    print(
        f"\n## UI server time, {stamp} (n timed runs per case after a warm-up; main project "
        f"{main['traces']:,} traces / {main['observations']:,} observations)\n"
    )
    print("| case | n | p50 ms | p95 ms | max ms | queries | SQL ms | slowest query ms | rows | KB | target | result |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        if r.times_ms:
            print(
                f"| {r.case.label} | {len(r.times_ms)} | {r.pct(0.5):.0f} | {r.pct(0.95):.0f} | "
                f"{max(r.times_ms):.0f} | {r.queries} | {r.sql_ms:.0f} | {r.slowest_ms:.0f} | {r.rows} | "
                f"{r.kb:.0f} | < {r.case.target_ms} | {r.verdict} |"
            )
        else:
            print(f"| {r.case.label} | 0 | – | – | – | – | – | – | – | – | < {r.case.target_ms} | {r.status} |")
    measured = [r for r in results if r.times_ms]
    failed = [r for r in measured if r.verdict != "pass"]
    print(f"\n{len(measured)} cases measured, {len(failed)} over target, {len(results) - len(measured)} not measured.")
    explain_path = RESULTS / f"ui-explain-{stamp}.txt"
    with explain_path.open("w") as out:
        for r in measured:
            out.write(f"## {r.case.label}  [{r.verdict}, p95 {r.pct(0.95):.0f} ms]\nGET {r.url}\n")
            out.write(f"{r.queries} queries, {r.sql_ms:.1f} ms SQL; slowest (EXPLAIN ANALYZE) {r.slowest_ms:.1f} ms:\n")
            out.write(r.slowest_sql + "\n\n" + "\n".join(r.explain) + "\n\n")
    with (RESULTS / f"ui-{stamp}.jsonl").open("w") as out:
        for r in results:
            out.write(
                json.dumps(
                    {
                        "run": stamp,
                        "case": r.case.label,
                        "kind": r.case.kind,
                        "url": r.url,
                        "status": r.status,
                        "runs": len(r.times_ms),
                        "p50_ms": round(r.pct(0.5), 1) if r.times_ms else None,
                        "p95_ms": round(r.pct(0.95), 1) if r.times_ms else None,
                        "max_ms": round(max(r.times_ms), 1) if r.times_ms else None,
                        "mean_ms": round(statistics.fmean(r.times_ms), 1) if r.times_ms else None,
                        "target_ms": r.case.target_ms,
                        "verdict": r.verdict,
                        "queries": r.queries,
                        "sql_ms": round(r.sql_ms, 1),
                        "slowest_query_ms": round(r.slowest_ms, 1),
                        "rows": r.rows,
                        "kb": round(r.kb, 1),
                        "explain_execution": next((line for line in r.explain if "Execution Time" in line), None),
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
    print(f"\nEXPLAIN plans: {explain_path.relative_to(ROOT)}; JSON lines: bench/results/ui-{stamp}.jsonl")


# --- text -----------------------------------------------------------------------------------------------

LANGUAGES = ["en", "fr", "es", "de", "pt", "zh", "ja", "ar"]  # index = bench_ui_text.lang (ui_seed.sql weights)

# Sentences about what LLM apps are asked (orders, refunds, invoices, bookings, databases). The search cases
# look for words that occur here: "refund", "customs clearance", "réservation", "退款", "الفاتورة".
SENTENCES: dict[str, list[str]] = {
    "en": [
        "I ordered a pair of running shoes on {d} March and the parcel still has not arrived.",
        "Can you check the status of order #{n} and tell me when it will be delivered?",
        "The customer asks for a refund because the blender stopped working after {d} days.",
        "Our refund policy allows returns within 30 days if the item is unused and in its original box.",
        "Please summarise the attached contract and list every clause about termination and penalties.",
        "The invoice for the last quarter shows {n} licences but we only have {d} active users.",
        "Write a SQL query that returns the ten customers with the highest lifetime value in 2025.",
        "The retrieval step found three documents about shipping delays caused by the port strike.",
        "I could not log in to my account after resetting the password; the link says it has expired.",
        "Translate the following product description into German, keeping the brand names unchanged.",
        "According to the knowledge base, premium members get free express shipping on every order.",
        "The model answered with the wrong currency: the price should be shown in euros, not dollars.",
        "Classify this ticket as billing, shipping, technical or other, and explain your reasoning briefly.",
        "Extract the company name, the invoice number and the total amount from the scanned receipt.",
        "The warehouse in Rotterdam reports {n} parcels waiting for customs clearance this week.",
        "When a payment fails twice, the agent should offer a bank transfer and a link to the help centre.",
        "The assistant apologised, issued store credit of {d} dollars and closed the conversation politely.",
        "Compare the two laptop models by battery life, weight, screen quality and price per year of warranty.",
        "Our onboarding email sequence has a {d} percent open rate, which is lower than the industry average.",
        "Here is the context: the customer has been a subscriber since 2019 and has filed {d} complaints.",
        "The delivery driver left the package at the neighbour's door without ringing the bell.",
        "Generate three friendly subject lines for a newsletter about our spring sale on garden furniture.",
    ],
    "fr": [
        "Bonjour, je souhaite modifier ma réservation pour le {d} juin et ajouter une nuit supplémentaire.",
        "La livraison était prévue mercredi, mais le colis n'est toujours pas arrivé à l'adresse indiquée.",
        "Pourriez-vous vérifier l'état de la commande n° {n} et me dire quand elle sera expédiée ?",
        "Le client réclame un remboursement complet car l'appareil présentait un défaut dès la réception.",
        "Résumez le contrat ci-joint et énumérez les clauses de résiliation et les pénalités éventuelles.",
        "L'hôtel confirme la réservation d'une chambre double avec petit-déjeuner pour {d} nuits.",
        "Notre équipe a reçu {n} demandes concernant la facturation électronique depuis le début du mois.",
        "Le modèle a répondu en anglais alors que la question était posée en français : c'est à corriger.",
        "Après la mise à jour, l'application se ferme dès que j'ouvre l'écran des paramètres du compte.",
        "Les frais de port sont offerts à partir de {d} euros d'achat pour les membres du programme fidélité.",
    ],
    "es": [
        "Hola, quiero cancelar mi suscripción y solicitar el reembolso del último mes, por favor.",
        "El pedido número {n} llegó dañado y la caja estaba abierta; adjunto fotografías del paquete.",
        "¿Cuál es la política de devoluciones para artículos comprados durante las rebajas de invierno?",
        "La reserva del vuelo a Bogotá aparece duplicada y me han cobrado dos veces la misma tarifa.",
        "Necesito una factura con el número de identificación fiscal de la empresa para la contabilidad.",
        "El asistente respondió correctamente, pero tardó más de {d} segundos en generar la respuesta.",
        "Según la base de conocimientos, la garantía cubre dos años desde la fecha de compra en España.",
        "Por favor, traduce este párrafo al inglés manteniendo el tono formal y los términos técnicos.",
    ],
    "de": [
        "Ich möchte meine Bestellung Nr. {n} stornieren, da sich die Lieferung um zwei Wochen verzögert.",
        "Die Rückerstattung wurde vor {d} Tagen bestätigt, ist aber noch nicht auf meinem Konto eingegangen.",
        "Bitte fassen Sie die Kündigungsfristen und Gebühren aus dem beigefügten Vertrag kurz zusammen.",
        "Der Kundenservice hat mir versprochen, dass ein Techniker am Donnerstag vorbeikommt.",
        "Die Größe fällt kleiner aus als angegeben; ich möchte die Schuhe gegen Größe {d} umtauschen.",
        "Übersetzen Sie die Produktbeschreibung ins Französische und behalten Sie die Markennamen bei.",
        "Für Geschäftskunden gelten gesonderte Zahlungsbedingungen mit einem Zahlungsziel von 30 Tagen.",
        "Das Modell hat die Frage nach der Mehrwertsteuer falsch beantwortet; bitte prüfen Sie die Quelle.",
    ],
    "pt": [
        "Olá, a minha encomenda n.º {n} foi entregue no endereço errado e preciso de ajuda urgente.",
        "Gostaria de saber se é possível trocar o produto por outro modelo sem pagar portes adicionais.",
        "A fatura do mês passado apresenta um valor duplicado referente à subscrição anual do serviço.",
        "O reembolso foi aprovado, mas o cartão de crédito ainda não mostra a devolução do pagamento.",
        "Resuma as condições de garantia e explique como o cliente pode acionar a assistência técnica.",
        "A reserva do hotel em Lisboa inclui pequeno-almoço e estacionamento gratuito durante {d} noites.",
    ],
    "zh": [
        "你好，我在{d}月份购买的耳机出现了故障，请问如何申请退款？",
        "订单号{n}的包裹已经三天没有物流更新了，能帮我查一下吗？",
        "请根据知识库总结一下我们的退货政策和退款时限。",
        "客户反映发票上的金额与实际支付的金额不一致，需要重新开具。",
        "请把下面这段产品介绍翻译成英文，保留品牌名称不变。",
        "这个模型的回答太长了，请用三句话概括用户的问题和解决方案。",
        "数据库查询超时，请检查索引是否正确以及查询计划是否合理。",
        "会员用户可以享受免费配送服务，普通用户订单满{d}元包邮。",
        "检索步骤找到了三篇关于配送延迟的文档，请据此回答用户的问题。",
        "我的账户被锁定了，重置密码的邮件一直没有收到。",
    ],
    "ja": [
        "こんにちは、{d}日に注文した商品がまだ届いていません。配送状況を確認していただけますか。",
        "注文番号{n}の返品と返金の手続きについて教えてください。",
        "添付した契約書の解約条項を要約し、違約金の有無を説明してください。",
        "ホテルの予約を一泊延長したいのですが、料金はいくらになりますか。",
        "モデルの回答が敬語になっていないので、丁寧な表現に書き直してください。",
        "請求書の宛名を会社名に変更して再発行をお願いできますでしょうか。",
        "アプリを更新してから、ログインするたびにエラーが表示されるようになりました。",
        "検索結果に基づいて、保証期間と修理の申し込み方法を説明してください。",
    ],
    "ar": [
        "مرحبا، لم يصل طلبي رقم {n} حتى الآن، هل يمكنكم التحقق من حالة الشحن؟",
        "أريد استرداد المبلغ لأن المنتج وصل تالفا ولا يعمل بشكل صحيح.",
        "الفاتورة الأخيرة تحتوي على مبلغ مكرر، يرجى مراجعتها وإصدار فاتورة جديدة.",
        "يرجى تلخيص سياسة الإرجاع والاستبدال الخاصة بالمتجر في ثلاث نقاط.",
        "هل يمكن تغيير موعد الحجز في الفندق إلى يوم {d} من الشهر القادم؟",
        "لم أتمكن من تسجيل الدخول إلى حسابي بعد تغيير كلمة المرور.",
        "قدم المساعد إجابة صحيحة لكنه استغرق وقتا طويلا في الرد على العميل.",
        "ترجم وصف المنتج التالي إلى اللغة الإنجليزية مع الحفاظ على الأسماء التجارية.",
    ],
}

SYSTEM_PROMPT = (
    "You are a helpful customer-support assistant for an online retailer. Answer in the customer's language, "
    "cite the retrieved documents by id, never invent order data, and escalate to a human when unsure."
)


def paragraphs(per_language: int, seed: int = 4) -> list[tuple[int, int, str]]:
    """(language index, number, text): `per_language` paragraphs of 300–1,500 characters per language."""
    rng = random.Random(seed)  # noqa: S311 - reproducible sample text, not a secret
    rows = []
    for lang_index, lang in enumerate(LANGUAGES):
        separator = "" if lang in ("zh", "ja") else " "
        for number in range(per_language):
            target = rng.randint(300, 1500)
            parts: list[str] = []
            length = 0
            while length < target:
                sentence = rng.choice(SENTENCES[lang]).format(n=rng.randint(10000, 99999), d=rng.randint(2, 28))
                parts.append(sentence)
                length += len(sentence) + len(separator)
            rows.append((lang_index, number, separator.join(parts)[:1500]))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", action="store_true", help="create and fill the scratch database (resumable)")
    parser.add_argument("--reseed", action="store_true", help="drop the scratch database first (with --seed)")
    parser.add_argument("--measure", action="store_true", help="time the pages against the seeded database")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--traces", type=int, default=1_000_000, help="traces in the main project")
    parser.add_argument("--busy-traces", type=int, default=300_000, help="traces in the second project")
    parser.add_argument("--runs", type=int, default=10, help="timed requests per case (after one warm-up)")
    parser.add_argument("--search-runs", type=int, help="timed requests per search case (default: --runs)")
    parser.add_argument("--only", help="measure only the cases whose label contains this text")
    args = parser.parse_args(argv)
    if not (args.seed or args.measure):
        parser.error("pass --seed and/or --measure")
    _check_scratch(args.database_url)
    if args.seed:
        seed(args.database_url, traces=args.traces, busy_traces=args.busy_traces, reseed=args.reseed)
    if args.measure:
        measure(args.database_url, runs=args.runs, search_runs=args.search_runs, only=args.only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
