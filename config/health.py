"""Liveness (/healthz: the process answers) and readiness (/readyz: database, Redis, migrations)."""

from __future__ import annotations

from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> str | None:
    try:
        connection = connections[DEFAULT_DB_ALIAS]
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:
        return f"database unreachable: {exc.__class__.__name__}"
    if pending:
        return f"{len(pending)} migration(s) not applied: run `python manage.py migrate`"
    return None


def _check_redis() -> str | None:
    try:
        cache.set("readyz", "1", 5)
        if cache.get("readyz") != "1":
            return "redis did not return what was written"
    except Exception as exc:
        return f"redis unreachable: {exc.__class__.__name__}"
    return None


@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _check_database(), "redis": _check_redis()}
    ok = not any(checks.values())
    return JsonResponse(
        {"status": "ok" if ok else "unavailable", "checks": {k: v or "ok" for k, v in checks.items()}},
        status=200 if ok else 503,
    )
