"""EXPLAIN (ANALYZE, BUFFERS) of the read queries the trace list and detail pages will run, on ~1M observations.

    .venv/bin/python -m bench.ui_indexes --database-url postgresql://postgres@127.0.0.1:PORT/sightline
    (or `python -m bench.ingest --explain`, which runs this against its scratch server after the load)

Extra rows are generated in the database with INSERT … SELECT generate_series into 10 synthetic projects
(ids 900001-900010; observations ≈ 1.4 KB each with jsonb input/output/metadata, ≈7 per trace), then ANALYZE.
Each query is checked for the index it is meant to use; a miss is printed as FAIL and makes the exit code 1.
Never point this at a database whose data you care about: it writes the synthetic projects' rows.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import psycopg

PROJECTS = 10
FIRST_PROJECT = 900_001
OBS_PER_TRACE = 7

_TRACES_SQL = """
INSERT INTO traces_trace (project_id, id, timestamp, name, user_id, session_id, tags, metadata, input, output,
                          environment, end_time, latency_ms, observation_count)
SELECT %(first)s + g %% %(projects)s, md5('t' || g), now() - g * interval '2 seconds', 'rag_query',
       'user-' || (g %% 5000), 'session-' || (g %% 40000),
       ARRAY['env-' || (g %% 3), 'feature-' || (g %% 200)]::varchar[],
       jsonb_build_object('tenant', 't-' || (g %% 40), 'step', g %% 9),
       to_jsonb(repeat('question ', 40)), to_jsonb(repeat('answer ', 40)), 'default',
       now() - g * interval '2 seconds' + interval '3 seconds', 3000, %(per)s
FROM generate_series(1, %(traces)s) AS g
ON CONFLICT DO NOTHING
"""
_OBSERVATIONS_SQL = """
INSERT INTO traces_observation (project_id, id, trace_id, parent_id, type, name, start_time, end_time, level,
                                model, input, output, metadata, input_tokens, output_tokens, total_tokens,
                                environment)
SELECT %(first)s + (g / %(per)s) %% %(projects)s, md5('o' || g), md5('t' || (g / %(per)s)),
       CASE WHEN g %% %(per)s = 0 THEN NULL ELSE md5('o' || (g - g %% %(per)s)) END,
       (ARRAY['CHAIN','GENERATION','RETRIEVER','TOOL','SPAN','EMBEDDING','GENERATION'])[1 + g %% 7], 'step',
       now() - (g / %(per)s) * interval '2 seconds' + (g %% %(per)s) * interval '100 ms',
       now() - (g / %(per)s) * interval '2 seconds' + (g %% %(per)s) * interval '100 ms' + interval '90 ms',
       'DEFAULT', 'gpt-4o-mini',
       jsonb_build_array(jsonb_build_object('role', 'user', 'content', repeat('lorem ipsum ', 50))),
       jsonb_build_array(jsonb_build_object('role', 'assistant', 'content', repeat('dolor sit ', 40))),
       jsonb_build_object('span_kind', 'INTERNAL', 'attributes', jsonb_build_object('k', g %% 100)),
       100, 50, 150, 'default'
FROM generate_series(%(start)s, %(stop)s) AS g
ON CONFLICT DO NOTHING
"""

# (label, SQL, the index it must use). Parameters are filled from a sample row of the biggest project.
QUERIES: list[tuple[str, str, str]] = [
    (
        "latest traces of a project (list page, first page)",
        "SELECT id, name, timestamp, latency_ms, total_cost, observation_count FROM traces_trace "
        "WHERE project_id = %(project)s ORDER BY timestamp DESC LIMIT 50",
        "trace_sort_time",
    ),
    (
        "latest traces, keyset page 20",
        "SELECT id, name, timestamp FROM traces_trace WHERE project_id = %(project)s AND timestamp < %(ts)s "
        "ORDER BY timestamp DESC LIMIT 50",
        "trace_sort_time",
    ),
    (
        "a trace's observations (detail page)",
        "SELECT * FROM traces_observation WHERE project_id = %(project)s AND trace_id = %(trace)s ORDER BY start_time",
        "obs_project_trace",
    ),
    (
        "traces of a session",
        "SELECT id, name, timestamp FROM traces_trace WHERE project_id = %(project)s AND session_id = %(session)s "
        "ORDER BY timestamp",
        "trace_project_session",
    ),
    (
        "traces of a user",
        "SELECT id, name, timestamp FROM traces_trace WHERE project_id = %(project)s AND user_id = %(user)s "
        "ORDER BY timestamp DESC LIMIT 50",
        "trace_project_user",
    ),
    (
        "traces with a tag (selective: 1 in 200)",
        "SELECT id, name, timestamp FROM traces_trace WHERE project_id = %(project)s "
        "AND tags @> ARRAY[%(tag)s]::varchar[] ORDER BY timestamp DESC LIMIT 50",
        "trace_project_tags",
    ),
    (
        "latest observations of a project",
        "SELECT id, trace_id, name, start_time FROM traces_observation WHERE project_id = %(project)s "
        "ORDER BY start_time DESC LIMIT 50",
        "obs_project_time",
    ),
]


def _indexes(plan: dict[str, Any]) -> set[str]:
    found = {plan["Index Name"]} if "Index Name" in plan else set()
    for child in plan.get("Plans", []):
        found |= _indexes(child)
    return found


def generate(conn: psycopg.Connection[Any], rows: int) -> dict[str, Any]:
    """Tops the synthetic projects up to `rows` observations (idempotent), then ANALYZE."""
    first_project = FIRST_PROJECT
    have_row = conn.execute(
        "SELECT count(*) FROM traces_observation WHERE project_id BETWEEN %s AND %s",
        [first_project, first_project + PROJECTS - 1],
    ).fetchone()
    have = int(have_row[0]) if have_row else 0
    started = time.perf_counter()
    if have < rows:
        traces = rows // OBS_PER_TRACE + 1
        params = {"first": first_project, "projects": PROJECTS, "per": OBS_PER_TRACE, "traces": traces}
        conn.execute(_TRACES_SQL, params)
        step = 200_000
        for start in range(OBS_PER_TRACE, rows + OBS_PER_TRACE, step):  # chunks: bounded transactions
            conn.execute(_OBSERVATIONS_SQL, {**params, "start": start, "stop": min(start + step - 1, rows + 6)})
    conn.execute("ANALYZE traces_trace")
    conn.execute("ANALYZE traces_observation")
    sizes = conn.execute(
        "SELECT (SELECT count(*) FROM traces_observation), (SELECT count(*) FROM traces_trace), "
        "pg_size_pretty(pg_total_relation_size('traces_observation')), "
        "pg_size_pretty(pg_total_relation_size('traces_trace'))"
    ).fetchone()
    assert sizes is not None
    return {
        "observations": sizes[0],
        "traces": sizes[1],
        "observation_table_size": sizes[2],
        "trace_table_size": sizes[3],
        "generate_seconds": round(time.perf_counter() - started, 1),
    }


def run(database_url: str, rows: int = 1_000_000) -> dict[str, Any]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        data = generate(conn, rows)
        print(
            f"\n## Read-path EXPLAIN on {data['observations']:,} observations ({data['observation_table_size']}) and "
            f"{data['traces']:,} traces ({data['trace_table_size']}); generated in {data['generate_seconds']} s\n"
        )
        project = FIRST_PROJECT + 1
        sample = conn.execute(
            "SELECT id, session_id, user_id, timestamp FROM traces_trace WHERE project_id = %s "
            "ORDER BY timestamp DESC OFFSET 1000 LIMIT 1",
            [project],
        ).fetchone()
        assert sample is not None
        params = {
            "project": project,
            "trace": sample[0],
            "session": sample[1],
            "user": sample[2],
            "ts": sample[3],
            "tag": f"feature-{project - FIRST_PROJECT + 10}",  # g % 10 == 1 and g % 200 == 11: 1 trace in 200
        }
        results = []
        for label, sql, index in QUERIES:
            explain = conn.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params).fetchone()
            assert explain is not None
            plan = explain[0][0]
            text_rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params).fetchall()
            used = _indexes(plan["Plan"])
            ok = index in used
            results.append(
                {
                    "query": label,
                    "expected_index": index,
                    "indexes_used": sorted(used),
                    "ok": ok,
                    "execution_ms": plan["Execution Time"],
                    "planning_ms": plan["Planning Time"],
                    "plan": [r[0] for r in text_rows],
                }
            )
            verdict = "ok  " if ok else "FAIL"
            print(f"- {verdict} {label}: {index} ({plan['Execution Time']:.2f} ms); used {sorted(used)}")
            keep = ("Scan", "Index Cond", "Recheck", "Filter", "Execution Time")
            for number, line in enumerate(r[0] for r in text_rows):
                if number == 0 or any(word in line for word in keep):
                    print(f"      {line}")
        return {"data": data, "queries": results, "all_ok": all(r["ok"] for r in results)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true", help="print the result as JSON too")
    args = parser.parse_args(argv)
    if "127.0.0.1" not in args.database_url and "localhost" not in args.database_url:
        parser.error("only a local scratch database")
    result = run(args.database_url, rows=args.rows)
    if args.json:
        print(json.dumps(result, default=str, indent=2))
    return 0 if result["all_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
