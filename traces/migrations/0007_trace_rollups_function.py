"""`sightline_trace_rollups(project, trace ids)`: each trace's rollups from its stored observations.

A function so that its query is planned generically (SET plan_cache_mode): planned with the literal project
id, a project that PostgreSQL had not analysed yet (a new project, or one that grew since the last ANALYZE,
which autovacuum runs only after a tenth of the table changed) was estimated at one row, and the planner read
every observation of the project through obs_project_time and filtered on the trace id, ~6 ms per trace
instead of one probe of obs_project_trace. A generic plan estimates a project by the average, where
(project_id, trace_id) equality always wins. One row per id that has observations; `stored` is the trace's
stored timestamp (NULL when the trace is new).
"""

from __future__ import annotations

from django.db import migrations

ROLLUPS_FUNCTION = """
CREATE OR REPLACE FUNCTION sightline_trace_rollups(project bigint, ids text[])
RETURNS TABLE (
    trace_id text, end_time timestamptz, total_cost numeric, input_tokens bigint, output_tokens bigint,
    total_tokens bigint, observation_count bigint, error_count bigint, stored timestamptz
)
LANGUAGE sql STABLE PARALLEL SAFE SET plan_cache_mode = force_generic_plan AS $$
    SELECT i.trace_id, agg.end_time, agg.total_cost, agg.input_tokens, agg.output_tokens, agg.total_tokens,
           agg.observation_count, agg.error_count, t.timestamp
    FROM unnest(ids) AS i(trace_id)
    CROSS JOIN LATERAL (
        SELECT MAX(COALESCE(o.end_time, o.start_time)) AS end_time,
               SUM(o.total_cost) AS total_cost,
               COALESCE(SUM(o.input_tokens), 0)::bigint AS input_tokens,
               COALESCE(SUM(o.output_tokens), 0)::bigint AS output_tokens,
               COALESCE(SUM(o.total_tokens), 0)::bigint AS total_tokens,
               COUNT(*) AS observation_count,
               COUNT(*) FILTER (WHERE o.level = 'ERROR') AS error_count
        FROM traces_observation o
        WHERE o.project_id = project AND o.trace_id = i.trace_id
    ) agg
    LEFT JOIN traces_trace t ON t.project_id = project AND t.id = i.trace_id
    WHERE agg.observation_count > 0
$$
"""


class Migration(migrations.Migration):
    dependencies = [("traces", "0006_drop_redundant_trace_indexes")]

    operations = [
        migrations.RunSQL(ROLLUPS_FUNCTION, "DROP FUNCTION IF EXISTS sightline_trace_rollups(bigint, text[])"),
    ]
