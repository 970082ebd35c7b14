"""Durability: a 2xx means stored in PostgreSQL, with or without Redis; a failed write leaves nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import DataError
from django.test import Client, override_settings

from tests.conftest import Tenant
from tests.test_ingest_otlp import TRACE, post, request_of, sid, span, to_protobuf
from traces.models import Observation, Score, Trace
from traces.services import ObservationIn, ScoreIn, TraceIn, trace_batch_write

pytestmark = pytest.mark.django_db

# Port 1 refuses connections: Redis is down. override_settings rebuilds the cache handlers.
REDIS_DOWN = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
}


def test_ingestion_stores_data_while_redis_is_down(acme: Tenant, client: Client) -> None:
    body = to_protobuf(request_of(span(sid(1), name="root"), span(sid(2), parent=sid(1), name="child")))
    with override_settings(CACHES=REDIS_DOWN):
        response = post(client, acme, body)
    assert response.status_code == 200
    assert Observation.objects.filter(project_id=acme.project.pk, trace_id=TRACE).count() == 2


def test_a_bad_key_is_still_refused_while_redis_is_down(acme: Tenant, client: Client) -> None:
    acme.secret_key += "-wrong"
    with override_settings(CACHES=REDIS_DOWN):
        response = post(client, acme, to_protobuf(request_of(span(sid(1)))))
    assert response.status_code == 401
    assert not Observation.objects.filter(project_id=acme.project.pk).exists()


def test_a_write_that_fails_part_way_leaves_nothing_visible(acme: Tenant) -> None:
    now = datetime.now(tz=UTC)
    with pytest.raises(DataError):
        trace_batch_write(
            project_id=acme.project.pk,
            traces=[TraceIn(id="t-atomic", timestamp=now, name="chat")],
            observations=[ObservationIn(id="o-atomic", trace_id="t-atomic", start_time=now)],
            # The scores statement runs after traces and observations, and this name is over its column's size.
            scores=[ScoreIn(id="s-atomic", name="x" * 600, timestamp=now, trace_id="t-atomic", value=1)],
        )
    assert not Trace.objects.filter(project_id=acme.project.pk, id="t-atomic").exists()
    assert not Observation.objects.filter(project_id=acme.project.pk, id="o-atomic").exists()
    assert not Score.objects.filter(project_id=acme.project.pk).exists()
