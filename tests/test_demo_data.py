"""`demo_data` loads a realistic, idempotent data set through the shared write step."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db.models import Count, Q

from prompts.models import Prompt, PromptVersion
from tests.conftest import Tenant
from traces.models import Observation, Score, Trace

pytestmark = pytest.mark.django_db


def test_demo_data_is_realistic_and_idempotent(acme: Tenant) -> None:
    call_command("demo_data", project=acme.project.pk)
    traces = Trace.objects.filter(project_id=acme.project.pk)
    counts = traces.aggregate(
        n=Count("id"),
        errors=Count("id", filter=Q(error_count__gt=0)),
        users=Count("user_id", distinct=True),
        sessions=Count("session_id", distinct=True),
    )
    assert counts["n"] > 1000 and counts["errors"] > 10 and counts["users"] >= 30
    assert set(traces.values_list("environment", flat=True).distinct()) == {"production", "staging"}
    days = {t.date() for t in traces.values_list("timestamp", flat=True)}
    assert len(days) >= 14
    # Multi-turn sessions, nested spans, generations with real models, tokens and costs.
    assert traces.values("session_id").annotate(c=Count("id")).filter(c__gt=1).exists()
    observations = Observation.objects.filter(project_id=acme.project.pk)
    assert observations.filter(parent_id__isnull=False).count() > observations.filter(parent_id__isnull=True).count()
    generations = observations.filter(type="GENERATION", level="DEFAULT")
    assert set(generations.values_list("model", flat=True).distinct()) >= {"gpt-4o-mini", "claude-sonnet-4-5"}
    assert not generations.filter(total_tokens__isnull=True).exists()
    assert not generations.filter(total_cost__isnull=True).exists()
    assert generations.filter(completion_start_time__isnull=False).count() == generations.count()
    assert Score.objects.filter(project_id=acme.project.pk, source="FEEDBACK").exists()
    assert PromptVersion.objects.filter(prompt__project=acme.project, prompt__name="support/answer").count() == 3
    assert Prompt.objects.get(project=acme.project, name="support/answer").labels.filter(name="production").exists()

    before = (traces.count(), observations.count(), Score.objects.filter(project_id=acme.project.pk).count())
    call_command("demo_data", project=acme.project.pk)
    after = (traces.count(), observations.count(), Score.objects.filter(project_id=acme.project.pk).count())
    assert before == after
    assert PromptVersion.objects.filter(prompt__project=acme.project).count() == 4
