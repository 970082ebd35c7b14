"""`/api/docs/`: the API reference, server-rendered from the same OpenAPI schema as `/api/schema/`.

drf-spectacular's Redoc and Swagger views load their JavaScript from a CDN, which a self-hosted (possibly
offline) install must not depend on; this page needs nothing but the app's own stylesheet.
"""

from __future__ import annotations

import functools
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from drf_spectacular.generators import SchemaGenerator

METHODS = ("get", "post", "put", "patch", "delete")


@functools.cache
def _schema() -> dict[str, Any]:
    """Generated once per process: the routes and views do not change while it runs."""
    return SchemaGenerator().get_schema(request=None, public=True)


def _type_of(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    kind = schema.get("type", "any")
    if kind == "array":
        return f"list of {_type_of(schema.get('items', {}))}"
    return f"{kind} ({schema['format']})" if schema.get("format") else kind


def _operations(schema: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Operations grouped by their first path segment after /api/public (or the path's root)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for path, item in sorted(schema.get("paths", {}).items()):
        parts = [p for p in path.split("/") if p and p not in ("api", "public", "v2")]
        group = parts[0] if parts else "other"
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            body = (operation.get("requestBody") or {}).get("content", {})
            groups.setdefault(group, []).append(
                {
                    "anchor": operation.get("operationId", f"{method}-{path}"),
                    "method": method.upper(),
                    "path": path,
                    "summary": operation.get("summary", ""),
                    "description": operation.get("description", ""),
                    "parameters": [
                        {
                            "name": p["name"],
                            "where": p["in"],
                            "required": p.get("required", False),
                            "type": _type_of(p.get("schema", {})),
                            "description": p.get("description", ""),
                        }
                        for p in operation.get("parameters", [])
                    ],
                    "body": [(media, _type_of(spec.get("schema", {}))) for media, spec in body.items()],
                    "responses": sorted(operation.get("responses", {})),
                    "auth": sorted({name for rule in operation.get("security", []) for name in rule}),
                }
            )
    return groups


def api_docs(request: HttpRequest) -> HttpResponse:
    schema = _schema()
    context = {
        "info": schema.get("info", {}),
        "groups": sorted(_operations(schema).items()),
        "security": schema.get("components", {}).get("securitySchemes", {}),
    }
    return render(request, "api/docs.html", context)
