"""Named limits for ingestion (ARCHITECTURE.md §1): one table, every check refers to a name here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# Request body as sent (possibly compressed) and after decompression: over either → 413.
MAX_BODY_BYTES = 20 * 1024 * 1024
MAX_DECOMPRESSED_BYTES = 50 * 1024 * 1024
# Decompression reads at most this many bytes of output per step, so a gzip bomb is caught early.
DECOMPRESS_CHUNK_BYTES = 1024 * 1024
# Spans in one export request: over it → 413 (clients should send smaller batches).
MAX_SPANS_PER_REQUEST = 10_000
# Log records in one `/v1/logs` export request: over it → 413.
MAX_LOG_RECORDS_PER_REQUEST = 10_000
# A single attribute string value: longer ones are cut and end in "…[truncated N chars]".
MAX_ATTRIBUTE_CHARS = 256 * 1024
# JSON (attribute values, decoded JSON strings, kvlist/array attributes) deeper than this is stringified.
MAX_JSON_DEPTH = 64
# OTLP/JSON request bodies nested deeper than this are malformed (→ 400).
MAX_BODY_JSON_DEPTH = 200
# Span start times outside [EARLIEST_TIMESTAMP, now + MAX_FUTURE] reject the span.
EARLIEST_TIMESTAMP = datetime(2000, 1, 1, tzinfo=UTC)
MAX_FUTURE = timedelta(days=1)
# How many rejection reasons are listed in partial_success.error_message.
MAX_REJECTION_MESSAGES = 5


def truncation_marker(cut_chars: int) -> str:
    return f"…[truncated {cut_chars} chars]"
