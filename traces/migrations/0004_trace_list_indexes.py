"""Indexes for the trace list: full-text search, metadata, tags, filters and every sort (see traces/selectors.py).

Written as SQL because they index expressions Django's model state cannot describe (a search function,
COALESCE sort keys, operator classes on a btree_gin column pair). They are not in `Trace.Meta`, so the
autodetector neither sees nor removes them. Built CONCURRENTLY (outside a transaction) so that migrating a
large installation does not block ingestion while the trigram index builds.

- `sightline_trace_search_text(input, output)`: every string and number inside the input and output JSON,
  space-joined (keys and JSON punctuation left out, so `"role"` or a quote does not match everything). It is
  IMMUTABLE (jsonb_path_query and regexp_replace are), so it can be indexed. pg_trgm folds case when it
  extracts trigrams, and the selector searches it with ILIKE, so the match is case-insensitive and finds any
  substring.
- `sightline_search_spacing(text)` puts a space on both sides of every CJK character (Han, kana, Hangul),
  in the indexed text and in the search pattern alike. Chinese and Japanese do not separate words, and most
  of their words have one or two characters, which hold no trigram: spaced out, each character is a word of
  its own with the trigrams "  x" and " x ", so a search for any CJK substring, even one character, reads
  the index. Spacing both sides the same way keeps "pattern in text" exactly as true as before (the search
  term is stripped of outer spaces first). Other scripts are unchanged.
- pg_trgm extracts trigrams from "word" characters as the database's LC_CTYPE classifies them. With
  C.UTF-8 (PostgreSQL 15's libc in CI, and the builtin provider `make run` uses with PostgreSQL 18) CJK,
  Arabic and accented letters are word characters, so their trigrams are indexed. Under a plain "C" ctype
  they would not be: search still finds them (ILIKE rechecks every candidate), only without index help.
"""

from __future__ import annotations

from django.db import migrations

# Han (with extension A and compatibility ideographs), hiragana, katakana and Hangul syllables.
SPACE_CJK = r"regexp_replace({}, '([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff])', ' \1 ', 'g')"

SPACING_FUNCTION = f"""
CREATE OR REPLACE FUNCTION sightline_search_spacing(body text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT {SPACE_CJK.format("body")} $$
"""

# The spacing is written out, not called: PostgreSQL 17+ builds indexes with search_path = pg_catalog, where
# an unqualified call to our other function would not resolve.
SEARCH_FUNCTION = f"""
CREATE OR REPLACE FUNCTION sightline_trace_search_text(input jsonb, output jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT {SPACE_CJK.format("coalesce(string_agg(value #>> '{}', ' '), '')")}
    FROM (VALUES (input), (output)) AS doc(body),
         jsonb_path_query(doc.body, 'strict $.** ? (@.type() == "string" || @.type() == "number")') AS value
$$
"""  # noqa: S608 - constant SQL

# (name, definition after "ON traces_trace").
INDEXES = [
    # q: trigram search bounded by project (btree_gin lets project_id share the GIN index).
    ("trace_search", "USING gin (project_id, sightline_trace_search_text(input, output) gin_trgm_ops)"),
    # meta=key=value: jsonb containment.
    ("trace_metadata", "USING gin (project_id, metadata jsonb_path_ops)"),
    # tag (repeatable): array containment within the project.
    ("trace_project_tags", "USING gin (project_id, tags)"),
    # Sorts: keyset over (sort key, id); NULL latency or cost (no observations yet) sorts as -1.
    ("trace_sort_latency", "(project_id, (COALESCE(latency_ms, -1)), id)"),
    ("trace_sort_cost", "(project_id, (COALESCE(total_cost, -1)), id)"),
    ("trace_sort_tokens", "(project_id, total_tokens, id)"),
    # Time: (timestamp, id) exactly, so ties need no sort step (Meta's trace_project_time lacked the id and
    # 0006 dropped it); the sessions/users key walk uses this one too.
    ("trace_sort_time", "(project_id, timestamp, id)"),
    # Equality filters that can be rare, each read in time order.
    ("trace_filter_name", "(project_id, name, timestamp)"),
    ("trace_filter_env", "(project_id, environment, timestamp)"),
    ("trace_filter_release", "(project_id, release, timestamp) WHERE release IS NOT NULL"),
    ("trace_filter_starred", "(project_id, timestamp) WHERE bookmarked"),
]


def _create(name: str, definition: str) -> migrations.RunSQL:
    return migrations.RunSQL(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON traces_trace {definition}",
        f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
    )


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [("traces", "0003_score_config")]

    operations = [
        # Both are trusted extensions: a database owner may create them without being a superuser.
        migrations.RunSQL("CREATE EXTENSION IF NOT EXISTS pg_trgm", migrations.RunSQL.noop),
        migrations.RunSQL("CREATE EXTENSION IF NOT EXISTS btree_gin", migrations.RunSQL.noop),
        migrations.RunSQL(SPACING_FUNCTION, "DROP FUNCTION IF EXISTS sightline_search_spacing(text)"),
        migrations.RunSQL(SEARCH_FUNCTION, "DROP FUNCTION IF EXISTS sightline_trace_search_text(jsonb, jsonb)"),
        *[_create(name, definition) for name, definition in INDEXES],
    ]
