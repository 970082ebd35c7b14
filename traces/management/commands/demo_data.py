"""`python manage.py demo_data [--project ID]`: load the demo traces, prompts and scores (idempotent)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from projects.models import Project
from traces.demo import demo_data_load


class Command(BaseCommand):
    help = "Load 14 days of demo traces (RAG chatbot and tool-using agent), prompts and scores."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", type=int, help="Project id (default: the demo project from `bootstrap`).")

    def handle(self, *args: Any, project: int | None = None, **options: Any) -> None:
        query = Project.objects.filter(pk=project) if project else Project.objects.filter(name="Demo project")
        target = query.order_by("pk").first()
        if target is None:
            raise CommandError("No such project. Run `python manage.py bootstrap` or pass --project ID.")
        started = time.monotonic()
        written = demo_data_load(project=target)
        if written:
            self.stdout.write(f"Demo data: {written} traces in “{target.name}” ({time.monotonic() - started:.1f}s).")
        else:
            self.stdout.write(f"Demo data already in “{target.name}”.")
