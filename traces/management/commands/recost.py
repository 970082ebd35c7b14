"""`python manage.py recost --from YYYY-MM-DD --to YYYY-MM-DD [--model NAME] [--project ID]`.

Recomputes computed costs (and fills missing ones) of observations that started in the range, from the
prices as they are now; provided costs are never touched. Works in keyset batches and refreshes the
affected traces' rollups batch by batch.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from traces.pricing import RecostResult, costs_recompute


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD).") from exc


class Command(BaseCommand):
    help = "Recompute computed observation costs from the current model prices (provided costs are kept)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="start", required=True, help="First day (UTC), YYYY-MM-DD.")
        parser.add_argument("--to", dest="end", required=True, help="Last day (UTC, inclusive), YYYY-MM-DD.")
        parser.add_argument("--model", help="Only observations of this model (or priced by a row of this name).")
        parser.add_argument("--project", type=int, help="Only this project id.")
        parser.add_argument("--batch-size", type=int, default=5000, help="Observations per batch (default 5000).")

    def handle(self, *args: Any, **options: Any) -> None:
        first, last = _day(options["start"]), _day(options["end"])
        if last < first:
            raise CommandError("--to is before --from.")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be positive.")
        start = datetime(first.year, first.month, first.day, tzinfo=UTC)
        end = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
        started = time.monotonic()

        def progress(result: RecostResult) -> None:
            if options["verbosity"] > 1:
                self.stdout.write(f"  batch {result.batches}: scanned {result.scanned}, updated {result.updated}")

        result = costs_recompute(
            start=start,
            end=end,
            model=options.get("model"),
            project_id=options.get("project"),
            batch_size=options["batch_size"],
            progress=progress,
        )
        self.stdout.write(
            f"Recost {first}..{last}: scanned {result.scanned} observations, updated {result.updated}, "
            f"cleared {result.cleared}, refreshed {result.traces} traces in {result.batches} batches "
            f"({time.monotonic() - started:.1f}s)."
        )
