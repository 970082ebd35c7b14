"""First-run set-up for `make run`: a demo organization, project, admin user and key pair.

The credentials are kept in DATA_DIR/demo-credentials.json (mode 600) and printed on every run, so
a local user never loses them. Running it again changes nothing.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from projects.models import User
from projects.services import api_key_create, organization_create, project_create, user_create

ADMIN_EMAIL = "admin@sightline.local"


class Command(BaseCommand):
    help = "Create the demo organization, project, admin user and API keys on first run; print them."

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(settings.DATA_DIR) / "demo-credentials.json"
        if not User.objects.filter(email=ADMIN_EMAIL).exists():
            credentials = self._create()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(credentials, indent=2))
            path.chmod(0o600)
        elif path.exists():
            credentials = json.loads(path.read_text())
        else:
            self.stdout.write(f"Sign in as {ADMIN_EMAIL} (credentials were printed on the first run).")
            return
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "  Sign in     " + credentials["email"] + "  /  " + credentials["password"],
                    "  Project     " + credentials["project"] + f" (id {credentials['project_id']})",
                    "  Public key  " + credentials["public_key"],
                    "  Secret key  " + credentials["secret_key"],
                    f"  (kept in {path})",
                    "",
                ]
            )
        )

    @transaction.atomic
    def _create(self) -> dict[str, Any]:
        password = secrets.token_urlsafe(12)
        admin = user_create(email=ADMIN_EMAIL, password=password, name="Demo Admin")
        organization = organization_create(name="Demo", owner=admin)
        project = project_create(organization=organization, name="Demo project", actor=admin)
        key, secret = api_key_create(project=project, note="created by make run", actor=admin)
        return {
            "email": ADMIN_EMAIL,
            "password": password,
            "project": project.name,
            "project_id": project.pk,
            "public_key": key.public_key,
            "secret_key": secret,
        }
