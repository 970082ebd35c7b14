"""OpenAPI pieces drf-spectacular cannot infer: the two Basic-auth schemes, and the ingestion endpoints.

The ingestion endpoints are plain Django views (they stream and cap the body themselves, outside DRF), so
the generator does not see them; `ingestion_paths` (a postprocessing hook, see SPECTACULAR_SETTINGS) adds
their operations, described from the views' own docstrings and limits.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from traces.ingest import limits
from traces.ingest import views as ingest_views


class ApiKeyAuthScheme(OpenApiAuthenticationExtension):
    target_class = "projects.auth.ApiKeyAuthentication"
    name = "basicAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "basic",
            "description": "The project's public key as user name and its secret key as password.",
        }


class PublicKeyAuthScheme(OpenApiAuthenticationExtension):
    target_class = "traces.feedback.PublicKeyAuthentication"
    name = "publicKeyAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "basic",
            "description": "The project's public key as user name and an empty password (safe in a browser).",
        }


def _error_ref() -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Bad input (the message and `field` say what).",
        401: "Missing or wrong key pair.",
        405: "Only POST is allowed.",
        413: f"Body over {limits.MAX_BODY_BYTES} bytes (or over the limit once decompressed).",
        415: "Unsupported Content-Type or Content-Encoding.",
        503: "Storage unavailable; retry after Retry-After seconds.",
    }
    return {str(code): {"description": text[code], "content": _error_ref()} for code in codes}


_OTLP_BODY = {
    "required": True,
    "content": {
        "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
        "application/json": {"schema": {"type": "object", "additionalProperties": True}},
    },
}


def _otlp_operation(operation_id: str, summary: str, kind: str) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "summary": summary,
        "tags": ["ingestion"],
        "security": [{"basicAuth": []}],
        "requestBody": _OTLP_BODY,
        "responses": {
            "200": {
                "description": f"Stored (durably). An Export{kind}ServiceResponse in the request's encoding; "
                "partialSuccess says what was rejected.",
                "content": {
                    "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
                    "application/json": {"schema": {"type": "object", "additionalProperties": True}},
                },
            },
            **_errors(400, 401, 405, 413, 415, 503),
        },
    }


def _ingestion_operation() -> dict[str, Any]:
    return {
        "operationId": "ingestion_batch",
        "summary": "Langfuse batch ingestion (SDK v2-v4): trace, observation and score events",
        "description": (ingest_views.langfuse_ingestion.__doc__ or "").strip(),
        "tags": ["ingestion"],
        "security": [{"basicAuth": []}],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["batch"],
                        "properties": {
                            "batch": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["id", "type", "timestamp", "body"],
                                    "properties": {
                                        "id": {"type": "string"},
                                        "type": {"type": "string", "example": "trace-create"},
                                        "timestamp": {"type": "string", "format": "date-time"},
                                        "body": {"type": "object", "additionalProperties": True},
                                    },
                                },
                            },
                            "metadata": {"type": "object", "additionalProperties": True, "nullable": True},
                        },
                    }
                }
            },
        },
        "responses": {
            "207": {
                "description": "Per event: successes and errors (the good events are committed).",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["successes", "errors"],
                            "properties": {
                                "successes": {"type": "array", "items": {"type": "object"}},
                                "errors": {"type": "array", "items": {"type": "object"}},
                            },
                        }
                    }
                },
            },
            **_errors(400, 401, 405, 413, 415, 503),
        },
    }


def ingestion_paths(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Postprocessing hook: the ingestion operations (errors use the ErrorOut component of the API views)."""
    paths = result.setdefault("paths", {})
    for path, signal in (("/v1/traces", "Trace"), ("/api/public/otel/v1/traces", "Trace")):
        suffix = "langfuse" if path.startswith("/api") else "otlp"
        paths[path] = {
            "post": _otlp_operation(f"otlp_traces_{suffix}", "OTLP/HTTP traces (protobuf or JSON, gzip)", signal)
        }
    for path in ("/v1/logs", "/api/public/otel/v1/logs"):
        suffix = "langfuse" if path.startswith("/api") else "otlp"
        paths[path] = {
            "post": _otlp_operation(f"otlp_logs_{suffix}", "OTLP/HTTP logs: GenAI events and evaluations", "Logs")
        }
    paths["/api/public/ingestion"] = {"post": _ingestion_operation()}
    _document_errors(paths)
    return result


def _document_errors(paths: dict[str, Any]) -> None:
    """Every API view answers errors through projects.api_errors in the ErrorOut shape: say so on every
    operation (400/401/403/404 anywhere; 413/415 where there is a body) unless it already does."""
    for item in paths.values():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            codes = (400, 401, 403, 404, 413, 415) if "requestBody" in operation else (400, 401, 403, 404)
            responses = operation.setdefault("responses", {})
            for code in codes:
                responses.setdefault(str(code), {"description": HTTPStatus(code).phrase, "content": _error_ref()})
