"""The OpenAPI schema at /api/schema/, exercised by schemathesis against a live server with a real key pair:
no operation answers 5xx, and every answer matches the schema (status codes, content types, bodies).

Bounded so it stays within about a minute: a few examples per operation, no shrinking, a fixed seed.
Also checks that the schema covers the ingestion endpoints and that /api/docs/ needs nothing from outside.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import Tenant
from tests.test_public_api import seed

MAX_EXAMPLES = 15
# Schema-valid requests must get documented status codes; schema-invalid ones may be refused several ways
# (400, or 404/405 when a malformed path segment matches no route), but never with a 5xx or an off-schema body.
CHECKS = {
    GenerationMode.POSITIVE: [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ],
    GenerationMode.NEGATIVE: [not_a_server_error, content_type_conformance, response_schema_conformance],
}


def _exercise(operation: Any, mode: GenerationMode, base_url: str, auth: str, statuses: list[int]) -> None:
    """Runs up to MAX_EXAMPLES generated requests against one operation; raises on the first failed check."""

    @hypothesis_settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: report, don't minimise
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call_and_validate(
            base_url=base_url, headers={"Authorization": auth}, checks=CHECKS[mode], timeout=30
        )
        statuses.append(response.status_code)

    run()


@pytest.mark.timeout(600)
@pytest.mark.django_db(transaction=True)
def test_api_conforms_to_its_schema(live_server: Any, acme: Tenant, settings: Any) -> None:
    """Positive (schema-valid) and negative (schema-invalid) requests to every operation, with a real key."""
    seed(acme)  # something real to read, update and delete
    settings.FEEDBACK_RATE_LIMIT_PER_IP = 100_000  # a 429 would be valid, but would hide the other answers
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/?format=json", timeout=30)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30
    failures: list[str] = []
    statuses: list[int] = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _exercise(operation, mode, live_server.url, acme.basic_auth, statuses)
            except (Exception, BaseExceptionGroup) as exc:  # every operation's failures, not just the first
                failures.append(f"{operation.method.upper()} {operation.path} [{mode.value}]: {exc}"[:3000])
    assert not failures, "\n\n".join(failures)
    # The run really happened: several requests per operation, and the key was accepted (2xx answers).
    assert len(statuses) >= 3 * len(operations), len(statuses)
    assert sum(200 <= code < 300 for code in statuses) >= len(operations) // 2, sorted(set(statuses))


@pytest.mark.django_db(transaction=True)
def test_schema_covers_the_read_api_feedback_and_ingestion(live_server: Any) -> None:
    schema = requests.get(f"{live_server.url}/api/schema/?format=json", timeout=30).json()
    paths = schema["paths"]
    for path, method in [
        ("/api/public/traces", "get"),
        ("/api/public/traces", "delete"),
        ("/api/public/traces/{trace_id}", "get"),
        ("/api/public/v2/observations", "get"),
        ("/api/public/observations/{observation_id}", "get"),
        ("/api/public/scores", "get"),
        ("/api/public/scores", "post"),
        ("/api/public/sessions/{session_id}", "get"),
        ("/api/public/metrics/daily", "get"),
        ("/api/public/metrics", "get"),
        ("/api/public/v2/metrics", "get"),
        ("/api/public/score-configs/{config_id}", "patch"),
        ("/api/public/feedback", "post"),
        ("/api/public/ingestion", "post"),
        ("/api/public/otel/v1/traces", "post"),
        ("/v1/traces", "post"),
        ("/v1/logs", "post"),
    ]:
        assert method in paths.get(path, {}), (method, path)
    assert paths["/api/public/feedback"]["post"]["security"] == [{"publicKeyAuth": []}]
    assert schema["components"]["securitySchemes"]["basicAuth"]["scheme"] == "basic"


@pytest.mark.django_db(transaction=True)
def test_docs_page_is_self_contained(live_server: Any) -> None:
    response = requests.get(f"{live_server.url}/api/docs/", timeout=30)
    assert response.status_code == 200
    html = response.text
    assert "GET /api/public/traces" in html and "POST /api/public/feedback" in html
    assert "POST /api/public/ingestion" in html
    assert "cdn." not in html and "jsdelivr" not in html and "unpkg" not in html
