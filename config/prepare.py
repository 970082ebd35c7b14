"""`make run`'s set-up in one Django process: migrate, first-run demo tenant, demo data.

One process instead of three `manage.py` calls saves two Django start-ups on every `make run`.
"""

from __future__ import annotations

import os

import django
from django.core.management import call_command


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    call_command("bootstrap")
    call_command("demo_data")


if __name__ == "__main__":
    main()
