"""A real Celery worker consumes from Redis and runs tasks against the database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from config.celery import app
from projects.models import Invitation
from projects.tasks import prune_expired_invitations
from tests.conftest import TEST_BROKER_URL, Tenant
from tests.procs import ROOT


@pytest.fixture
def celery_worker_process(transactional_db: None) -> object:
    """A worker on the suite's broker database (see conftest), pointed at the test database."""
    database = connection.settings_dict
    database_url = (
        f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
        if database.get("HOST")
        else settings.DATABASE_URL
    )
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            "default,evals,maintenance",
            "--concurrency",
            "1",
            "--pool",
            "solo",
            "--loglevel",
            "INFO",
            "--without-heartbeat",
            "--without-gossip",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": TEST_BROKER_URL,
            "SECRET_KEY": "worker-test",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield worker
    worker.terminate()
    worker.communicate(timeout=30)


def test_scheduled_tasks_route_to_their_queue() -> None:
    route = app.amqp.router.route({}, "projects.maintenance.prune_expired_invitations")
    assert route["queue"].name == "maintenance"
    assert app.conf.task_acks_late and app.conf.worker_prefetch_multiplier == 1
    assert "prune-expired-invitations" in app.conf.beat_schedule


def test_worker_runs_a_task_from_the_queue_and_a_second_run_is_harmless(
    celery_worker_process: subprocess.Popen[str], acme: Tenant, alice: object
) -> None:
    expired = Invitation.objects.create(
        organization=acme.organization,
        email="late@example.com",
        token="t-expired",
        invited_by=alice,
        expires_at=timezone.now() - timedelta(days=1),
    )
    fresh = Invitation.objects.create(
        organization=acme.organization,
        email="soon@example.com",
        token="t-fresh",
        invited_by=alice,
        expires_at=timezone.now() + timedelta(days=1),
    )
    prune_expired_invitations.delay()
    prune_expired_invitations.delay()  # tasks are safe to run twice
    deadline = time.monotonic() + 60
    while Invitation.objects.filter(pk=expired.pk).exists():
        assert celery_worker_process.poll() is None, celery_worker_process.communicate()[0]
        assert time.monotonic() < deadline, "the worker did not run the task within 60s"
        time.sleep(0.2)
    assert Invitation.objects.filter(pk=fresh.pk).exists()
