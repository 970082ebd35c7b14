"""`/api/public/models`: model prices in Langfuse's shape (reference/langfuse-api.md, "Model + prices").

Key-authenticated (ApiKeyAuthentication, the project's key pair): a key sees the built-in rows and its own
project's rows, creates rows for its project and deletes only those. Another project's row is 404.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from projects.api_errors import error_body
from projects.models import Project
from traces import pricing
from traces.models import ModelPrice

MAX_LIMIT = 100


def model_out(row: ModelPrice) -> dict[str, Any]:
    prices = row.prices or {}
    return {
        "id": str(row.pk),
        "modelName": row.model_name,
        "matchPattern": row.match_pattern,
        "startDate": None if row.effective_from <= pricing.EARLIEST else row.effective_from.isoformat(),
        "unit": row.unit,
        "inputPrice": prices.get("input"),
        "outputPrice": prices.get("output"),
        "totalPrice": prices.get("total"),
        "prices": {usage_type: {"price": price} for usage_type, price in prices.items()},
        "tokenizerId": None,
        "tokenizerConfig": None,
        "isLangfuseManaged": row.project_id is None,
        "createdAt": row.created_at.isoformat() if row.created_at else None,
    }


def _int_param(request: Request, name: str, default: int, maximum: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise exceptions.ValidationError({name: f"{name} must be a positive integer."}) from exc
    if value < 1 or (maximum is not None and value > maximum):
        limit = f" up to {maximum}" if maximum else ""
        raise exceptions.ValidationError({name: f"{name} must be a positive integer{limit}."})
    return value


def _start_date(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise exceptions.ValidationError({"startDate": "startDate must be an ISO 8601 date or date-time."})
    parsed = parse_datetime(value)
    if parsed is None:
        day = parse_date(value)
        if day is None:
            raise exceptions.ValidationError({"startDate": "startDate must be an ISO 8601 date or date-time."})
        parsed = datetime(day.year, day.month, day.day, tzinfo=pricing.EARLIEST.tzinfo)
    if parsed.tzinfo is None:
        raise exceptions.ValidationError({"startDate": "startDate needs a time zone (e.g. 2025-01-01T00:00:00Z)."})
    return parsed


def _price_input(body: dict[str, Any]) -> dict[str, Any]:
    """`prices` by usage type plus the Langfuse shorthands inputPrice/outputPrice/totalPrice."""
    prices = body.get("prices")
    if prices is None:
        prices = {}
    if not isinstance(prices, dict):
        raise exceptions.ValidationError({"prices": "prices must be an object of usage type → USD per unit."})
    merged = dict(prices)
    for field, usage_type in (("inputPrice", "input"), ("outputPrice", "output"), ("totalPrice", "total")):
        value = body.get(field)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise exceptions.ValidationError({field: f"{field} must be a non-negative number (USD per unit)."})
        merged[usage_type] = value
    return merged


class ModelsView(APIView):
    @extend_schema(
        operation_id="models_list",
        summary="List model prices: built-ins and the key's project's rows",
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        page = _int_param(request, "page", 1)
        limit = _int_param(request, "limit", 50, MAX_LIMIT)
        rows = pricing.model_prices_for_project(project_id=request.user.project_id)
        total = len(rows)
        data = [model_out(row) for row in rows[(page - 1) * limit : page * limit]]
        meta = {"page": page, "limit": limit, "totalItems": total, "totalPages": math.ceil(total / limit)}
        return Response({"data": data, "meta": meta})

    @extend_schema(
        operation_id="models_create",
        summary="Create a project model price (overrides built-ins for the models it matches)",
        request=OpenApiTypes.OBJECT,
        responses={201: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request) -> Response:
        body = request.data
        if not isinstance(body, dict):
            raise exceptions.ValidationError("Body must be a JSON object.")
        for field in ("modelName", "matchPattern"):
            if not isinstance(body.get(field), str) or not body.get(field, "").strip():
                raise exceptions.ValidationError({field: f"{field} is required (a string)."})
        unit = body.get("unit") or "TOKENS"
        if not isinstance(unit, str):
            raise exceptions.ValidationError({"unit": "unit must be a string."})
        project = Project.objects.select_related("organization").get(pk=request.user.project_id)
        try:
            row = pricing.model_price_create(
                project=project,
                model_name=body["modelName"],
                match_pattern=body["matchPattern"],
                prices=_price_input(body),
                effective_from=_start_date(body.get("startDate")),
                unit=unit.upper(),
                actor_api_key_id=request.user.key_id,
            )
        except pricing.PriceError as exc:
            if exc.field == "startDate" and "already has" in exc.message:
                return Response(error_body(409, exc.message, exc.field), status=status.HTTP_409_CONFLICT)
            raise exceptions.ValidationError({exc.field: exc.message}) from exc
        return Response(model_out(row), status=status.HTTP_201_CREATED)


class ModelView(APIView):
    def _row(self, request: Request, model_id: str) -> ModelPrice:
        """Built-ins and the key's project's rows; anything else (another project's, unknown) is 404."""
        row = None
        if model_id.isdigit() and len(model_id) < 19:
            row = ModelPrice.objects.filter(pk=int(model_id)).first()
        if row is None or row.project_id not in (None, request.user.project_id):
            raise exceptions.NotFound("No model price with this id in this project.")
        return row

    @extend_schema(operation_id="models_get", summary="One model price", responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, model_id: str) -> Response:
        return Response(model_out(self._row(request, model_id)))

    @extend_schema(
        operation_id="models_delete",
        summary="Delete a project model price (built-ins cannot be deleted)",
        responses={204: None},
    )
    def delete(self, request: Request, model_id: str) -> Response:
        row = self._row(request, model_id)
        if row.project_id is None:
            raise exceptions.PermissionDenied("Built-in prices cannot be deleted; create a project price to override.")
        pricing.model_price_delete(price=row, actor_api_key_id=request.user.key_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
