"""What a user of the Langfuse Python SDK v5 reads back from a live Sightline, run by tests/test_sdk_read.py.

v5's raw API client has no trace/session reads any more; it has v2 observations, v3 scores, score configs,
trace/score deletion and v2 metrics queries. Runs in its own virtualenv (tests/sdk/langfuse5.lock), never imported
by the suite. Reads LANGFUSE_HOST, LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY, SIGHTLINE_TRACE_ID and
SIGHTLINE_METRICS_QUERIES (a JSON list of two metrics queries); prints one JSON object of what it saw, or exits
non-zero with the reason on stderr.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from langfuse import get_client
from langfuse.api.commons.types.observation_v2 import ObservationV2
from langfuse.api.commons.types.score_config import ScoreConfig
from langfuse.api.core.api_error import ApiError
from langfuse.api.metrics.types import MetricsV2Response


def main() -> int:
    api = get_client().api
    trace_id = os.environ["SIGHTLINE_TRACE_ID"]
    seen: dict[str, Any] = {}

    observations = api.observations.get_many(trace_id=trace_id, fields="core,basic,usage,model", limit=2)
    assert all(isinstance(o, ObservationV2) for o in observations.data)
    pages = [observations]
    while pages[-1].meta.cursor:
        pages.append(
            api.observations.get_many(trace_id=trace_id, fields="core,basic,usage,model", cursor=pages[-1].meta.cursor)
        )
    seen["observations"] = [
        {"id": o.id, "type": o.type, "model": o.model, "usage": o.usage_details, "parent": o.parent_observation_id}
        for page in pages
        for o in page.data
    ]

    scores = api.scores.get_many(trace_id=trace_id, fields="details,subject")
    seen["scores"] = {
        s.id: {"type": type(s).__name__, "value": s.value, "source": str(s.source), "subject": s.subject.kind}
        for s in scores.data
    }

    config = api.score_configs.create(name="helpfulness", data_type="NUMERIC", min_value=0, max_value=5)
    assert isinstance(config, ScoreConfig)
    updated = api.score_configs.update(config.id, is_archived=True)
    listed = api.score_configs.get()
    seen["config"] = {"archived": updated.is_archived, "listed": [c.name for c in listed.data]}

    tokens_query, feedback_query = json.loads(os.environ["SIGHTLINE_METRICS_QUERIES"])
    tokens = api.metrics.metrics(query=json.dumps(tokens_query))
    assert isinstance(tokens, MetricsV2Response)
    seen["metrics"] = {
        "type": type(tokens).__name__,
        "tokens": [[r["time_dimension"], r["providedModelName"], r["sum_totalTokens"]] for r in tokens.data],
        "feedback": api.metrics.metrics(query=json.dumps(feedback_query)).data,
    }

    deleted = api.trace.delete(trace_id)
    seen["deleted"] = deleted.message
    try:
        api.observations.get_many(trace_id=trace_id)
        seen["after_delete"] = [o.id for o in api.observations.get_many(trace_id=trace_id).data]
    except ApiError as exc:
        print(f"reading after delete failed: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(seen, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
