"""The Celery app. Queues by workload: default, evals (LLM calls), maintenance (retention, rollups)."""

from __future__ import annotations

import os

from celery import Celery
from celery.schedules import crontab
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("sightline")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue("default"), Queue("evals"), Queue("maintenance")]
app.conf.task_routes = {
    "evals.*": {"queue": "evals"},
    "*.maintenance.*": {"queue": "maintenance"},
}
# Crontab (not intervals): a beat restart does not reset them. `expires` drops late duplicates.
app.conf.beat_schedule = {
    "prune-expired-invitations": {
        "task": "projects.maintenance.prune_expired_invitations",
        "schedule": crontab(minute=17, hour=3),
        "options": {"expires": 3600},
    },
}
app.autodiscover_tasks()
