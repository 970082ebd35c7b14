"""Loads the built-in model prices (project NULL) from traces/pricing_data.py.

The prices are the providers' public list prices as of 2025-10 (see traces/pricing_data.py for what they
cover). A later price change gets a new entry with a later effective_from and a new data migration,
never an edit of these rows.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations


def load(apps: Any, schema_editor: Any) -> None:
    from traces.pricing_data import builtin_prices_load

    builtin_prices_load(apps.get_model("traces", "ModelPrice"))


def unload(apps: Any, schema_editor: Any) -> None:
    from traces.pricing_data import BUILTIN_EFFECTIVE_FROM, BUILTIN_PRICES

    apps.get_model("traces", "ModelPrice").objects.filter(
        project__isnull=True,
        model_name__in=[entry["model_name"] for entry in BUILTIN_PRICES],
        effective_from=BUILTIN_EFFECTIVE_FROM,
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("traces", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(load, unload),
    ]
