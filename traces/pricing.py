"""Cost computation from model prices (ARCHITECTURE.md §2 ModelPrice), and the price services.

Costs a client provided are kept as they are (cost_source "provided"). For the others, a price row is
chosen per observation: project rows override built-ins (project NULL); among rows whose regex matches
the model and whose `effective_from` is not after the observation's start, the newest wins. Each usage
type is priced on its own — `input` (not cached), `cache_read`, `cache_write`, `output` (not reasoning),
`reasoning` — so no token is priced twice; a type without a price falls back to the input (cache) or
output (reasoning) price. Usage that is missing stays missing: nothing is estimated.

Each process keeps a price book per project (the rows plus the model → candidates matches), checked
against a generation token in Redis on every batch: a price edit writes a new token, so the next batch
everywhere reloads. Without Redis, or after `BOOK_MAX_AGE`, the rows are read again (one indexed query).
"""

from __future__ import annotations

import functools
import logging
import math
import re
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Q

from projects.models import ApiKey, Project, User
from projects.services import audit_record
from traces.models import ModelPrice
from traces.services import ObservationIn

log = logging.getLogger(__name__)

USAGE_TYPES = ("input", "cache_read", "cache_write", "output", "reasoning")
# A usage type without its own price is billed like this one.
FALLBACK = {"cache_read": "input", "cache_write": "input", "reasoning": "output"}
UNITS = ("TOKENS", "CHARACTERS", "MILLISECONDS", "SECONDS", "IMAGES", "REQUESTS")
# A project price without a start date applies to all traces, like Langfuse's null startDate.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_QUANTUM = Decimal("1e-12")  # the cost columns' scale: numeric(20, 12)


class PriceError(Exception):
    """A refused price: `field` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Price:
    id: int
    project_id: int | None
    model_name: str
    match_pattern: str
    prices: dict[str, float]
    effective_from: datetime

    @property
    def regex(self) -> re.Pattern[str] | None:
        return _compiled(self.match_pattern)


@functools.lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern[str] | None:
    """Compiled once per process per pattern; a stored pattern that no longer compiles matches nothing."""
    try:
        return re.compile(pattern)
    except re.error:
        log.warning("pricing.bad_pattern pattern=%r", pattern)
        return None


# --- selection ------------------------------------------------------------------------------------------


def prices_load(*, project_ids: Iterable[int]) -> list[Price]:
    """Built-in rows and those of `project_ids`: one query."""
    rows = ModelPrice.objects.filter(Q(project__isnull=True) | Q(project_id__in=list(project_ids))).values_list(
        "id", "project_id", "model_name", "match_pattern", "prices", "effective_from"
    )
    return [Price(*row) for row in rows]


class PriceBook:
    """Chooses the price row for (project, model, time) from rows loaded once."""

    MAX_MODELS = 10_000  # model names are client input: bound the memo of matches

    def __init__(self, prices: Sequence[Price]) -> None:
        self._prices = prices
        self._by_model: dict[tuple[int, str], list[Price]] = {}

    def _candidates(self, project_id: int, model: str) -> list[Price]:
        key = (project_id, model)
        found = self._by_model.get(key)
        if found is None:
            found = []
            for price in self._prices:
                if price.project_id not in (None, project_id):
                    continue
                regex = price.regex
                if regex is not None and regex.search(model):
                    found.append(price)
            # Project rows first, then the newest start, then the newest row.
            found.sort(key=lambda p: (p.project_id is not None, p.effective_from, p.id), reverse=True)
            if len(self._by_model) >= self.MAX_MODELS:
                self._by_model.clear()
            self._by_model[key] = found
        return found

    def find(self, *, project_id: int, model: str, at: datetime) -> Price | None:
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        for price in self._candidates(project_id, model):
            if price.effective_from <= at:
                return price
        return None


_GENERATION_KEY = "prices:generation"
BOOK_MAX_AGE = 60.0  # seconds: bounds staleness if a change was made while Redis was unreachable
_books: dict[int, tuple[str, float, PriceBook]] = {}


def _generation() -> str | None:
    """The current price generation token, or None when Redis is unavailable (then nothing is cached)."""
    try:
        token = cache.get(_GENERATION_KEY)
        if token is None:
            token = uuid.uuid4().hex
            if not cache.add(_GENERATION_KEY, token, timeout=None):
                token = cache.get(_GENERATION_KEY)
        return token
    except Exception:  # the cache is an accelerator: without it, read the rows every time
        log.warning("pricing.generation_unavailable", exc_info=True)
        _books.clear()
        return None


def prices_changed() -> None:
    """Price rows changed: every process reloads its books on its next batch. Bumped now (so this
    transaction's own later reads see it) and again after commit (so a reload that raced the commit
    and read the old rows does not stick)."""

    def bump() -> None:
        try:
            cache.set(_GENERATION_KEY, uuid.uuid4().hex, timeout=None)
        except Exception:
            log.warning("pricing.generation_unavailable; books expire after %ss", BOOK_MAX_AGE, exc_info=True)

    bump()
    transaction.on_commit(bump)


def price_book(*, project_id: int) -> PriceBook:
    """The project's price book: this process's copy while the generation holds, else freshly loaded."""
    token = _generation()
    held = _books.get(project_id)
    now = time.monotonic()
    if token is not None and held is not None and held[0] == token and now - held[1] < BOOK_MAX_AGE:
        return held[2]
    book = PriceBook(prices_load(project_ids=[project_id]))
    if token is not None:
        _books[project_id] = (token, now, book)
    return book


def price_find(*, project_id: int, model: str, at: datetime) -> Price | None:
    """The price row that applies to `model` at `at` in the project, or None."""
    return price_book(project_id=project_id).find(project_id=project_id, model=model, at=at)


# --- computation ----------------------------------------------------------------------------------------


def _money(value: Decimal) -> Decimal:
    return value.quantize(_QUANTUM, rounding=ROUND_HALF_UP)


def cost_from(usage: dict[str, int], prices: dict[str, Any]) -> dict[str, float] | None:
    """USD by usage type and `total`, or None when no usage type has a price."""
    components: dict[str, Decimal] = {}
    for usage_type, tokens in usage.items():
        if usage_type == "total" or not isinstance(tokens, int) or tokens <= 0:
            continue
        price = prices.get(usage_type)
        if price is None and usage_type in FALLBACK:
            price = prices.get(FALLBACK[usage_type])
        if price is None:
            continue  # a usage type this row does not price (e.g. audio on a text-only row)
        components[usage_type] = _money(Decimal(tokens) * Decimal(str(price)))
    if not components and prices.get("total") is not None and isinstance(usage.get("total"), int):
        # A row with only a total price (Langfuse's totalPrice) prices the total.
        components["total"] = _money(Decimal(usage["total"]) * Decimal(str(prices["total"])))
        return {"total": float(components["total"])}
    if not components:
        # Usage with only zero counts costs nothing, but only when the row prices what was counted.
        if usage and all(v == 0 for k, v in usage.items() if k != "total" and isinstance(v, int)):
            known = any(usage_type in prices for usage_type in usage if usage_type != "total")
            return {"total": 0.0} if known else None
        return None
    result = {usage_type: float(value) for usage_type, value in components.items()}
    result["total"] = float(sum(components.values(), Decimal(0)))
    return result


def costs_compute(*, project_id: int, observations: Sequence[ObservationIn]) -> int:
    """Fills `cost`, `cost_source="computed"` and `price_id` of observations that have a model and usage
    but no provided cost; returns how many were priced. At most one query: none when nothing needs a
    price or the book is warm. One row per id: a batch's create and updates are merged first
    (`services.observations_merge`), so they are priced on what the write step will store.
    """
    wanted = [
        obs
        for obs in observations
        if obs.model and obs.usage and obs.start_time and not obs.cost and obs.cost_source != "provided"
    ]
    if not wanted:
        return 0
    book = price_book(project_id=project_id)
    priced = 0
    for obs in wanted:
        price = book.find(project_id=project_id, model=obs.model, at=obs.start_time)
        cost = None if price is None else cost_from(obs.usage, price.prices)
        if cost is None:
            continue
        obs.cost, obs.cost_source, obs.price_id = cost, "computed", price.id
        priced += 1
    return priced


# --- recost ---------------------------------------------------------------------------------------------


@dataclass
class RecostResult:
    scanned: int = 0
    updated: int = 0
    cleared: int = 0
    traces: int = 0
    batches: int = 0


_RECOST_SELECT = """
    SELECT project_id, start_time, id, trace_id, model, usage, cost, total_cost, price_id
    FROM traces_observation
    WHERE start_time >= %(start)s AND start_time < %(end)s
      AND (cost_source IS NULL OR cost_source = 'computed')
      AND usage IS NOT NULL AND model IS NOT NULL
      AND (%(project)s::bigint IS NULL OR project_id = %(project)s::bigint)
      AND (project_id, start_time, id) > (%(after_project)s, %(after_time)s, %(after_id)s)
    ORDER BY project_id, start_time, id
    LIMIT %(limit)s
"""
_RECOST_UPDATE = """
    UPDATE traces_observation t SET
        cost = u.cost::jsonb, total_cost = u.total_cost, cost_source = u.cost_source, price_id = u.price_id,
        updated_at = now()
    FROM unnest(%(ids)s::text[], %(costs)s::text[], %(totals)s::numeric[], %(sources)s::text[], %(prices)s::bigint[])
        AS u(id, cost, total_cost, cost_source, price_id)
    WHERE t.project_id = %(project)s AND t.id = u.id AND (t.cost_source IS NULL OR t.cost_source = 'computed')
"""


def costs_recompute(
    *,
    start: datetime,
    end: datetime,
    model: str | None = None,
    project_id: int | None = None,
    batch_size: int = 5000,
    progress: Any = None,
) -> RecostResult:
    """Recomputes computed (and missing) costs of observations starting in [start, end); provided costs are
    never touched. Keyset batches over (project_id, start_time, id); each batch commits with its traces'
    rollups refreshed. `model` limits it to observations whose model is that name or is priced (now or
    before) by a row of that model name."""
    import json

    from django.db import connection

    from traces.services import trace_rollups_refresh

    result = RecostResult()
    all_prices = ModelPrice.objects.values_list(
        "id", "project_id", "model_name", "match_pattern", "prices", "effective_from"
    )
    book = PriceBook([Price(*row) for row in all_prices])
    model_price_ids = (
        set(ModelPrice.objects.filter(model_name__iexact=model).values_list("id", flat=True)) if model else set()
    )
    after: tuple[int, datetime, str] = (-1, EARLIEST, "")
    while True:
        params = {
            "start": start,
            "end": end,
            "project": project_id,
            "after_project": after[0],
            "after_time": after[1],
            "after_id": after[2],
            "limit": batch_size,
        }
        with connection.cursor() as cursor:
            cursor.execute(_RECOST_SELECT, params)
            rows = cursor.fetchall()
        if not rows:
            break
        result.batches += 1
        result.scanned += len(rows)
        after = (rows[-1][0], rows[-1][1], rows[-1][2])
        changes: dict[int, list[tuple[str, dict[str, float] | None, Decimal | None, str | None, int | None]]] = {}
        touched: dict[int, set[str]] = {}
        for pid, start_time, oid, trace_id, obs_model, usage, old_cost, old_total, old_price in rows:
            # Raw cursors hand jsonb over as text (Django decodes JSON itself).
            usage = json.loads(usage) if isinstance(usage, str) else usage
            old_cost = json.loads(old_cost) if isinstance(old_cost, str) else old_cost
            price = book.find(project_id=pid, model=obs_model, at=start_time)
            other_model = bool(model) and obs_model.lower() != (model or "").lower()
            if other_model and (price is None or price.id not in model_price_ids) and old_price not in model_price_ids:
                continue
            cost = cost_from(usage, price.prices) if price is not None and isinstance(usage, dict) else None
            if cost is None:
                new = (None, None, None, None)
            else:
                new = (cost, Decimal(str(cost["total"])), "computed", price.id)  # type: ignore[union-attr]
            if old_cost == new[0] and old_price == new[3] and old_total == new[1]:
                continue
            changes.setdefault(pid, []).append((oid, *new))
            touched.setdefault(pid, set()).add(trace_id)
            if cost is None:
                result.cleared += 1
            else:
                result.updated += 1
        with transaction.atomic():
            for pid, items in changes.items():
                with connection.cursor() as cursor:
                    cursor.execute(
                        _RECOST_UPDATE,
                        {
                            "project": pid,
                            "ids": [i[0] for i in items],
                            "costs": [None if i[1] is None else json.dumps(i[1]) for i in items],
                            "totals": [i[2] for i in items],
                            "sources": [i[3] for i in items],
                            "prices": [i[4] for i in items],
                        },
                    )
                trace_rollups_refresh(project_id=pid, trace_ids=sorted(touched[pid]))
                result.traces += len(touched[pid])
        if progress is not None:
            progress(result)
        if len(rows) < batch_size:
            break
    return result


# --- price services (API and settings page) ---------------------------------------------------------------


def pattern_validate(pattern: str) -> str:
    pattern = (pattern or "").strip()
    if not pattern:
        raise PriceError("matchPattern", "matchPattern is required.")
    if len(pattern) > 500:
        raise PriceError("matchPattern", "matchPattern is longer than 500 characters.")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise PriceError("matchPattern", f"matchPattern is not a valid regular expression: {exc}") from exc
    return pattern


def prices_validate(prices: dict[str, Any], field: str = "prices") -> dict[str, float]:
    """USD per unit by usage type: finite, non-negative numbers; at least one."""
    from traces.ingest.normalise import usage_key

    result: dict[str, float] = {}
    for key, value in prices.items():
        amount = value.get("price") if isinstance(value, dict) else value
        if amount is None:
            continue
        if isinstance(amount, bool) or not isinstance(amount, (int, float, str)):
            raise PriceError(f"{field}.{key}", f"{field}.{key} must be a number (USD per unit).")
        try:
            number = float(amount)
        except ValueError as exc:
            raise PriceError(f"{field}.{key}", f"{field}.{key} must be a number (USD per unit).") from exc
        if not math.isfinite(number) or number < 0 or number > 1e6:
            raise PriceError(f"{field}.{key}", f"{field}.{key} must be between 0 and 1000000 USD per unit.")
        result[usage_key(str(key))] = number
    return result


def _snapshot(row: ModelPrice) -> dict[str, Any]:
    return {
        "model_name": row.model_name,
        "match_pattern": row.match_pattern,
        "prices": row.prices,
        "unit": row.unit,
        "effective_from": row.effective_from.isoformat(),
    }


@transaction.atomic
def model_price_create(
    *,
    project: Project,
    model_name: str,
    match_pattern: str,
    prices: dict[str, Any],
    effective_from: datetime | None = None,
    unit: str = "TOKENS",
    actor: User | None = None,
    actor_api_key_id: int | None = None,
) -> ModelPrice:
    """A project price row (overrides built-ins for the models its pattern matches). Raises PriceError."""
    model_name = (model_name or "").strip()
    if not model_name:
        raise PriceError("modelName", "modelName is required.")
    if len(model_name) > 200:
        raise PriceError("modelName", "modelName is longer than 200 characters.")
    match_pattern = pattern_validate(match_pattern)
    if unit not in UNITS:
        raise PriceError("unit", f"unit must be one of {', '.join(UNITS)}.")
    clean = prices_validate(prices)
    if not clean:
        raise PriceError("prices", "Give at least one price (inputPrice, outputPrice, totalPrice or prices).")
    if effective_from is not None and effective_from.tzinfo is None:
        raise PriceError("startDate", "startDate needs a time zone.")
    try:
        with transaction.atomic():
            row = ModelPrice.objects.create(
                project=project,
                model_name=model_name,
                match_pattern=match_pattern,
                prices=clean,
                unit=unit,
                effective_from=effective_from or EARLIEST,
            )
    except IntegrityError as exc:
        raise PriceError(
            "startDate", f"This project already has a {model_name} price starting at that date; delete it first."
        ) from exc
    prices_changed()
    audit_record(
        organization=project.organization,
        project=project,
        actor=actor,
        actor_api_key=ApiKey(pk=actor_api_key_id) if actor_api_key_id else None,
        action="model_price.create",
        target=model_name,
        after=_snapshot(row),
    )
    return row


@transaction.atomic
def model_price_delete(*, price: ModelPrice, actor: User | None = None, actor_api_key_id: int | None = None) -> None:
    """Deletes a project's own price row (built-ins are never deleted this way)."""
    if price.project_id is None:
        raise PriceError("id", "Built-in prices cannot be deleted; add a project price to override one.")
    project = Project.objects.select_related("organization").get(pk=price.project_id)
    before = _snapshot(price)
    target = f"{price.model_name} #{price.pk}"
    price.delete()
    prices_changed()
    audit_record(
        organization=project.organization,
        project=project,
        actor=actor,
        actor_api_key=ApiKey(pk=actor_api_key_id) if actor_api_key_id else None,
        action="model_price.delete",
        target=target,
        before=before,
    )


def model_prices_for_project(*, project_id: int, search: str = "") -> list[ModelPrice]:
    """Built-ins and the project's rows, by model name then newest first."""
    rows = ModelPrice.objects.filter(Q(project__isnull=True) | Q(project_id=project_id))
    if search:
        rows = rows.filter(Q(model_name__icontains=search) | Q(match_pattern__icontains=search))
    return list(rows.order_by("model_name", "-effective_from", "project_id", "id"))
