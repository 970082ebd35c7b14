-- One chunk of synthetic traces for bench/ui.py: traces g = lo … hi of one project, their observations,
-- sessions and scores, in one statement (one transaction per chunk, so a restart resumes at the next chunk).
--
-- Everything is a function of g (and of k, the observation's position in its trace), so a chunk can be
-- regenerated identically. H(i) / HO(i) are macros that bench/ui.py expands into independent
-- pseudo-random non-negative ints per trace / per observation (hashint8 of g, k and a salt i).
-- The trace rollups (end_time, latency_ms, total_cost, tokens, observation_count, error_count) are
-- aggregated from the same observation rows that are inserted, with the formulas of
-- traces.services.trace_rollups_refresh, so they always agree with the observations.
WITH pr AS (
    SELECT model_name, id, (prices ->> 'input')::numeric AS pin, COALESCE((prices ->> 'output')::numeric, 0) AS pout
    FROM traces_modelprice
    WHERE project_id IS NULL
),
t AS MATERIALIZED (
    SELECT
        g,
        md5(%(prefix)s::text || ':t:' || g) AS tid,
        %(t0)s::timestamptz - (g * %(step_ms)s::float8 + mod(H(1), 1000)) * interval '1 millisecond' AS ts,
        (ARRAY[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
               1,1,2,2,3,3,4,5,5,5,6,6,7,7,7])[1 + mod(H(2), 50)] AS lang,
        (ARRAY[4,4,4,5,5,6,7,8])[1 + mod(H(3), 8)] AS nchild,
        (150 + mod(H(4), 1200)) * CASE WHEN mod(H(27), 50) = 0 THEN 5 ELSE 1 END AS slot,
        'sess_' || left(md5(%(prefix)s::text || ':s:' || ((g / 60) * 9 + mod(H(5), 9))), 16) AS sid,
        'user_' || lpad(floor(%(users)s::int * power(
            (hashint8((g / 60) * 9 + mod(H(5), 9) + %(gs)s::bigint) & 2147483647) / 2147483648.0, 2))::text, 5, '0') AS uid,
        (ARRAY['rag_query','rag_query','rag_query','rag_query','rag_query','rag_query','rag_query','rag_query',
               'chat_turn','chat_turn','chat_turn','chat_turn','support_agent','support_agent','summarize_document',
               'classify_ticket','classify_ticket','sql_agent','translate','extract_entities'])[1 + mod(H(6), 20)] AS name,
        CASE WHEN mod(H(7), 100) < 80 THEN 'production' WHEN mod(H(7), 100) < 95 THEN 'staging'
             ELSE 'development' END AS env,
        'v2.' || (11 - floor(g * 12.0 / %(n)s::bigint))::int AS release,
        array_remove(ARRAY[
            CASE WHEN mod(H(8), 3) = 0 THEN (ARRAY['billing','shipping','returns','account','onboarding','search',
                'checkout','loyalty','fraud','catalog','reviews','warranty','payments','delivery','support','sales'])
                [1 + mod(H(9), 16)] END,
            CASE WHEN mod(H(10), 4) = 0 THEN (ARRAY['beta','canary','mobile','web','api','batch','eval','internal'])
                [1 + mod(H(11), 8)] END,
            CASE WHEN mod(H(12), 100) = 0 THEN 'vip' END
        ], NULL)::varchar[] AS tags,
        jsonb_build_object(
            'tenant', 'tenant-' || lpad(mod(H(18), 200)::text, 3, '0'),
            'region', (ARRAY['eu-west-1','us-east-1','ap-southeast-1'])[1 + mod(H(19), 3)],
            'feature', (ARRAY['search','chat','checkout','onboarding','billing'])[1 + mod(H(20), 5)],
            'ab_bucket', mod(H(21), 2),
            'sdk', 'python/3.2.1'
        ) AS meta,
        mod(H(13), 250) = 0 AS starred,
        mod(H(14), 100) < 3 AS is_err,
        mod(H(16), %(paragraphs)s::int) AS qn,
        mod(H(17), %(paragraphs)s::int) AS an,
        (ARRAY['gpt-4o-mini','gpt-4o-mini','gpt-4o-mini','gpt-4o','gpt-4o','gpt-4.1-mini','claude-sonnet-4-5',
               'claude-sonnet-4-5','gpt-5-mini','llama-3.1-70b-instruct'])[1 + mod(H(15), 10)] AS tmodel,
        H(22) AS hs1, H(23) AS hs2, H(24) AS hs3, H(25) AS hs4, H(26) AS hs5, H(28) AS herr,
        %(needle)s AS needle
    FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS g
),
o AS MATERIALIZED (
    SELECT t.g, t.tid, t.ts, t.lang, t.nchild, t.slot, t.uid, t.name, t.env, t.release, t.qn, t.an, t.needle, k,
           a.otype, b.ostart, b.oend, b.olevel, b.omodel, b.itok, b.otok, pr.id AS price_id,
           CASE WHEN pr.id IS NOT NULL THEN round(b.itok * pr.pin, 12) END AS cin,
           CASE WHEN pr.id IS NOT NULL AND b.otok IS NOT NULL THEN round(b.otok * pr.pout, 12) END AS cout
    FROM t
    CROSS JOIN generate_series(0, t.nchild) AS k
    CROSS JOIN LATERAL (
        SELECT CASE WHEN k = 0 THEN (CASE WHEN t.name IN ('support_agent', 'sql_agent') THEN 'AGENT' ELSE 'CHAIN' END)
                    ELSE (ARRAY['RETRIEVER','GENERATION','TOOL','GENERATION','SPAN','EMBEDDING','TOOL','GENERATION'])[k]
               END AS otype
    ) AS a
    CROSS JOIN LATERAL (
        SELECT
            CASE WHEN k = 0 THEN t.ts ELSE t.ts + ((k - 1) * t.slot + 5) * interval '1 millisecond' END AS ostart,
            CASE WHEN k = 0 THEN t.ts + (t.nchild * t.slot + 20) * interval '1 millisecond'
                 ELSE t.ts + ((k - 1) * t.slot + 5 + t.slot * (0.5 + mod(HO(1), 45) / 100.0)) * interval '1 millisecond'
            END AS oend,
            CASE WHEN t.is_err AND k = 1 + mod(t.herr, t.nchild) THEN 'ERROR'
                 WHEN k > 0 AND mod(HO(2), 40) = 0 THEN 'WARNING' ELSE 'DEFAULT' END AS olevel,
            CASE a.otype WHEN 'GENERATION' THEN (CASE WHEN k = 2 THEN 'gpt-4o-mini' ELSE t.tmodel END)
                         WHEN 'EMBEDDING' THEN 'text-embedding-3-small' END AS omodel,
            CASE a.otype WHEN 'GENERATION' THEN 250 + mod(HO(3), 1800) WHEN 'EMBEDDING' THEN 20 + mod(HO(3), 200)
            END AS itok,
            CASE a.otype WHEN 'GENERATION' THEN 30 + mod(HO(4), 600) END AS otok
    ) AS b
    LEFT JOIN pr ON pr.model_name = b.omodel
),
ins_o AS (
    INSERT INTO traces_observation (
        project_id, id, trace_id, parent_id, type, name, start_time, end_time, completion_start_time, level,
        status_message, model, model_parameters, input, output, metadata, usage, input_tokens, output_tokens,
        total_tokens, cost, total_cost, cost_source, price_id, prompt_name, prompt_version, environment, version
    )
    SELECT
        %(pid)s::bigint,
        left(md5(%(prefix)s::text || ':o:' || o.g || ':' || o.k), 16),
        o.tid,
        CASE WHEN o.k > 0 THEN left(md5(%(prefix)s::text || ':o:' || o.g || ':0'), 16) END,
        o.otype,
        CASE o.otype WHEN 'RETRIEVER' THEN 'vector_search' WHEN 'GENERATION' THEN
                         (CASE WHEN o.k = 2 THEN 'plan_tool_call' ELSE 'ChatCompletion' END)
                     WHEN 'TOOL' THEN (CASE WHEN o.k = 3 THEN 'search_orders' ELSE 'web_search' END)
                     WHEN 'SPAN' THEN 'postprocess' WHEN 'EMBEDDING' THEN 'embed_query' ELSE o.name END,
        o.ostart,
        o.oend,
        CASE WHEN o.otype = 'GENERATION' THEN o.ostart + (o.oend - o.ostart) * 0.25 END,
        o.olevel,
        CASE o.olevel WHEN 'ERROR' THEN 'Upstream timeout after 30 s (HTTP 504 from provider); retries exhausted'
                      WHEN 'WARNING' THEN 'Slow response: retried once after HTTP 429' END,
        o.omodel,
        CASE WHEN o.otype = 'GENERATION' THEN '{"temperature": 0.2, "max_tokens": 1024, "stream": true}'::jsonb END,
        CASE
            WHEN o.k = 0 THEN jsonb_build_array(jsonb_build_object('role', 'user', 'content', q.body || o.needle))
            WHEN o.otype = 'GENERATION' AND o.k = 2 THEN jsonb_build_array(
                jsonb_build_object('role', 'system', 'content', %(system)s::text),
                jsonb_build_object('role', 'user', 'content', q.body || o.needle))
            WHEN o.otype = 'GENERATION' THEN jsonb_build_array(
                jsonb_build_object('role', 'system', 'content', %(system)s::text),
                jsonb_build_object('role', 'user', 'content', q.body || o.needle),
                jsonb_build_object('role', 'tool', 'tool_call_id', 'call_' || left(o.tid, 12),
                                   'content', left(a.body, 240)))
            WHEN o.otype = 'RETRIEVER' THEN jsonb_build_object('query', left(q.body, 160), 'top_k', 3)
            WHEN o.otype = 'TOOL' THEN jsonb_build_object('customer_id', o.uid, 'limit', 5)
            WHEN o.otype = 'EMBEDDING' THEN jsonb_build_object('input', left(q.body, 160))
            ELSE jsonb_build_object('step', 'format_answer')
        END,
        CASE
            WHEN o.olevel = 'ERROR' THEN NULL
            WHEN o.k = 0 THEN jsonb_build_object('role', 'assistant', 'content', a.body)
            WHEN o.otype = 'GENERATION' AND o.k = 2 THEN jsonb_build_object('role', 'assistant', 'content', NULL,
                'tool_calls', jsonb_build_array(jsonb_build_object('id', 'call_' || left(o.tid, 12), 'type', 'function',
                    'function', jsonb_build_object('name', 'search_docs',
                        'arguments', jsonb_build_object('query', left(q.body, 80))::text))))
            WHEN o.otype = 'GENERATION' THEN jsonb_build_object('role', 'assistant', 'content', a.body)
            WHEN o.otype = 'RETRIEVER' THEN jsonb_build_array(
                jsonb_build_object('id', 'doc-' || mod(HO(5), 50000), 'score', 0.91,
                                   'content', substr(a.body, 1, 240)),
                jsonb_build_object('id', 'doc-' || mod(HO(6), 50000), 'score', 0.84,
                                   'content', substr(a.body, 100, 240)),
                jsonb_build_object('id', 'doc-' || mod(HO(7), 50000), 'score', 0.77,
                                   'content', substr(q.body, 50, 240)))
            WHEN o.otype = 'TOOL' THEN jsonb_build_object('status', 'ok', 'rows', mod(HO(8), 20))
            WHEN o.otype = 'EMBEDDING' THEN jsonb_build_object('dimensions', 1536)
            ELSE jsonb_build_object('chars', length(a.body))
        END,
        jsonb_build_object('span_kind', CASE WHEN o.k = 0 THEN 'SERVER' ELSE 'INTERNAL' END, 'attempt', 1)
            || CASE WHEN o.omodel IS NOT NULL THEN jsonb_build_object('provider',
                   CASE WHEN o.omodel LIKE 'claude%%' THEN 'anthropic' WHEN o.omodel LIKE 'llama%%' THEN 'vllm'
                        ELSE 'openai' END) ELSE '{}'::jsonb END,
        CASE WHEN o.itok IS NOT NULL THEN jsonb_strip_nulls(jsonb_build_object(
            'input', o.itok, 'output', o.otok, 'total', o.itok + COALESCE(o.otok, 0))) END,
        o.itok,
        o.otok,
        o.itok + COALESCE(o.otok, 0),
        CASE WHEN o.cin IS NOT NULL THEN jsonb_strip_nulls(jsonb_build_object(
            'input', o.cin, 'output', o.cout, 'total', o.cin + COALESCE(o.cout, 0))) END,
        o.cin + COALESCE(o.cout, 0),
        CASE WHEN o.cin IS NOT NULL THEN 'computed' END,
        o.price_id,
        CASE WHEN o.otype = 'GENERATION' AND o.k = 2 THEN 'plan-tools' END,
        CASE WHEN o.otype = 'GENERATION' AND o.k = 2 THEN 3 END,
        o.env,
        o.release
    FROM o
    JOIN bench_ui_text AS q ON q.lang = o.lang AND q.n = o.qn
    JOIN bench_ui_text AS a ON a.lang = o.lang AND a.n = o.an
    RETURNING 1
),
agg AS (
    SELECT tid,
           MAX(COALESCE(oend, ostart)) AS end_time,
           SUM(cin + COALESCE(cout, 0)) AS total_cost,
           COALESCE(SUM(itok), 0) AS input_tokens,
           COALESCE(SUM(otok), 0) AS output_tokens,
           COALESCE(SUM(itok + COALESCE(otok, 0)), 0) AS total_tokens,
           COUNT(*) AS observation_count,
           COUNT(*) FILTER (WHERE olevel = 'ERROR') AS error_count
    FROM o
    GROUP BY tid
),
ins_t AS (
    INSERT INTO traces_trace (
        project_id, id, name, timestamp, user_id, session_id, tags, metadata, input, output, environment, release,
        version, public, bookmarked, end_time, latency_ms, total_cost, input_tokens, output_tokens, total_tokens,
        observation_count, error_count
    )
    SELECT %(pid)s::bigint, t.tid, t.name, t.ts, t.uid, t.sid, t.tags, t.meta,
           jsonb_build_array(jsonb_build_object('role', 'user', 'content', q.body || t.needle)),
           jsonb_build_object('role', 'assistant', 'content', a.body),
           t.env, t.release, t.release, false, t.starred,
           GREATEST(agg.end_time, t.ts),
           (EXTRACT(EPOCH FROM (GREATEST(agg.end_time, t.ts) - t.ts)) * 1000)::bigint,
           agg.total_cost, agg.input_tokens, agg.output_tokens, agg.total_tokens, agg.observation_count,
           agg.error_count
    FROM t
    JOIN agg ON agg.tid = t.tid
    JOIN bench_ui_text AS q ON q.lang = t.lang AND q.n = t.qn
    JOIN bench_ui_text AS a ON a.lang = t.lang AND a.n = t.an
    RETURNING 1
),
ins_s AS (
    INSERT INTO traces_session (project_id, id, environment, created_at)
    SELECT %(pid)s::bigint, sid, min(env), min(ts) FROM t GROUP BY sid
    ON CONFLICT DO NOTHING
    RETURNING 1
),
ins_sc AS (
    INSERT INTO traces_score (
        project_id, id, name, value, string_value, data_type, source, trace_id, comment, author_user_id,
        environment, timestamp
    )
    SELECT %(pid)s::bigint, md5(%(prefix)s::text || ':sq:' || g), 'quality', round(mod(hs2, 101) / 100.0, 2)::float8,
           NULL::text, 'NUMERIC', 'EVAL', tid, NULL::text, NULL::bigint, env, ts + interval '1 minute'
    FROM t WHERE mod(hs1, 100) < 8
    UNION ALL
    SELECT %(pid)s::bigint, md5(%(prefix)s::text || ':sf:' || g), 'user_feedback', (mod(hs4, 5) > 0)::int,
           CASE WHEN mod(hs4, 5) > 0 THEN 'True' ELSE 'False' END, 'BOOLEAN', 'FEEDBACK', tid,
           CASE WHEN mod(hs4, 5) = 0 THEN 'The answer ignored my order number.' END, NULL, env, ts + interval '2 minutes'
    FROM t WHERE mod(hs3, 100) < 3
    UNION ALL
    SELECT %(pid)s::bigint, md5(%(prefix)s::text || ':sc:' || g), 'correctness', (ARRAY[1, 0.5, 0])[1 + mod(hs5, 3)],
           (ARRAY['correct', 'partially_correct', 'incorrect'])[1 + mod(hs5, 3)], 'CATEGORICAL', 'ANNOTATION', tid,
           NULL, %(author)s::bigint, env, ts + interval '1 hour'
    FROM t WHERE mod(hs5 / 7, 100) = 0
    RETURNING 1
)
SELECT (SELECT count(*) FROM ins_t), (SELECT count(*) FROM ins_o), (SELECT count(*) FROM ins_s),
       (SELECT count(*) FROM ins_sc)
