"""Response shapes of the public read API, in Langfuse's field names (reference/langfuse-api.md §2.3).

Each serializer both renders rows and documents the response in the OpenAPI schema, so the two cannot
drift apart. Langfuse's SDKs parse these strictly (pydantic), hence two deliberate translations:
metadata that is not a JSON object is wrapped as {"value": …}, and a score's `source` FEEDBACK (which
the SDKs' enum lacks) is reported as API, with the stored source in `sightlineSource`.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from traces.models import Observation, Score, ScoreDataType, ScoreSource, Trace

ANY_NULLABLE = {"nullable": True}  # any JSON value, null included


@extend_schema_field({"type": "object", "additionalProperties": True, "nullable": True})
class MetadataField(serializers.Field):
    def to_representation(self, value: Any) -> dict[str, Any] | None:
        if value is None or isinstance(value, dict):
            return value
        return {"value": value}


@extend_schema_field(ANY_NULLABLE)
class AnyJsonField(serializers.Field):
    def to_representation(self, value: Any) -> Any:
        return value


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000


class ErrorOut(serializers.Serializer):
    error = serializers.CharField(help_text="Machine-readable kind, e.g. bad_request, not_found.")
    message = serializers.CharField(help_text="What went wrong, for a person.")
    field = serializers.CharField(required=False, help_text="The request field at fault, when there is one.")


class MetaOut(serializers.Serializer):
    page = serializers.IntegerField()
    limit = serializers.IntegerField()
    totalItems = serializers.IntegerField()
    totalPages = serializers.IntegerField()


def meta(*, page: int, limit: int, total: int) -> dict[str, int]:
    return {"page": page, "limit": limit, "totalItems": total, "totalPages": -(-total // limit)}


class TraceOut(serializers.Serializer):
    """Langfuse's Trace: the trace's own fields."""

    id = serializers.CharField()
    timestamp = serializers.DateTimeField()
    name = serializers.CharField(allow_null=True)
    input = AnyJsonField()
    output = AnyJsonField()
    sessionId = serializers.CharField(source="session_id", allow_null=True)
    release = serializers.CharField(allow_null=True)
    version = serializers.CharField(allow_null=True)
    userId = serializers.CharField(source="user_id", allow_null=True)
    metadata = MetadataField()
    tags = serializers.ListField(child=serializers.CharField())
    public = serializers.BooleanField()
    bookmarked = serializers.BooleanField()
    environment = serializers.CharField()
    projectId = serializers.CharField(source="project_id")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")


class TraceMetricsMixin(serializers.Serializer):
    htmlPath = serializers.SerializerMethodField()
    latency = serializers.SerializerMethodField(help_text="Seconds from the trace start to its last observation end.")
    totalCost = serializers.SerializerMethodField(help_text="USD, summed over the trace's observations.")

    def get_htmlPath(self, trace: Trace) -> str:
        return reverse("trace-detail", args=[trace.project_id, trace.id])

    @extend_schema_field({"type": "number", "nullable": True})
    def get_latency(self, trace: Trace) -> float | None:
        return _seconds(trace.latency_ms)

    @extend_schema_field({"type": "number", "nullable": True})
    def get_totalCost(self, trace: Trace) -> float | None:
        return None if trace.total_cost is None else float(trace.total_cost)


TRACE_GROUPS = ("core", "io", "scores", "observations", "metrics")


class TraceListItemOut(TraceOut, TraceMetricsMixin):
    """A list row: observations and scores as ids (context `observation_ids` / `score_ids` by trace id).

    Context `groups` (Langfuse's `fields`): without `io` input/output/metadata are null, without `metrics`
    latency and totalCost are -1."""

    observations = serializers.SerializerMethodField()
    scores = serializers.SerializerMethodField()

    def to_representation(self, instance: Trace) -> dict[str, Any]:
        row = super().to_representation(instance)
        groups = self.context["groups"]
        if "io" not in groups:
            row.update(input=None, output=None, metadata=None)
        if "metrics" not in groups:
            row.update(latency=-1, totalCost=-1)
        return row

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_observations(self, trace: Trace) -> list[str]:
        return self.context["observation_ids"].get(trace.id, [])

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_scores(self, trace: Trace) -> list[str]:
        return self.context["score_ids"].get(trace.id, [])


class UsageOut(serializers.Serializer):
    input = serializers.IntegerField()
    output = serializers.IntegerField()
    total = serializers.IntegerField()
    unit = serializers.CharField(allow_null=True)
    inputCost = serializers.FloatField(allow_null=True)
    outputCost = serializers.FloatField(allow_null=True)
    totalCost = serializers.FloatField(allow_null=True)


class ObservationOut(serializers.Serializer):
    """Langfuse's ObservationsView (v1 observation with prompt and metrics)."""

    id = serializers.CharField()
    traceId = serializers.CharField(source="trace_id")
    type = serializers.CharField()
    name = serializers.CharField(allow_null=True)
    startTime = serializers.DateTimeField(source="start_time")
    endTime = serializers.DateTimeField(source="end_time", allow_null=True)
    completionStartTime = serializers.DateTimeField(source="completion_start_time", allow_null=True)
    model = serializers.CharField(allow_null=True)
    modelParameters = AnyJsonField(source="model_parameters")
    input = AnyJsonField()
    output = AnyJsonField()
    metadata = MetadataField()
    version = serializers.CharField(allow_null=True)
    level = serializers.CharField()
    statusMessage = serializers.CharField(source="status_message", allow_null=True)
    parentObservationId = serializers.CharField(source="parent_id", allow_null=True)
    environment = serializers.CharField()
    promptId = serializers.SerializerMethodField()
    promptName = serializers.CharField(source="prompt_name", allow_null=True)
    promptVersion = serializers.IntegerField(source="prompt_version", allow_null=True)
    modelId = serializers.SerializerMethodField()
    usage = serializers.SerializerMethodField()
    usageDetails = serializers.SerializerMethodField()
    costDetails = serializers.SerializerMethodField()
    totalCost = serializers.SerializerMethodField()
    costSource = serializers.CharField(source="cost_source", allow_null=True)
    latency = serializers.SerializerMethodField()
    timeToFirstToken = serializers.SerializerMethodField()

    @extend_schema_field({"type": "string", "nullable": True})
    def get_promptId(self, obs: Observation) -> str | None:
        return None

    @extend_schema_field({"type": "string", "nullable": True})
    def get_modelId(self, obs: Observation) -> str | None:
        return None if obs.price_id is None else str(obs.price_id)

    @extend_schema_field(UsageOut)
    def get_usage(self, obs: Observation) -> dict[str, Any]:
        cost = obs.cost or {}
        return {
            "input": obs.input_tokens or 0,
            "output": obs.output_tokens or 0,
            "total": obs.total_tokens or 0,
            "unit": "TOKENS" if obs.usage else None,
            "inputCost": cost.get("input"),
            "outputCost": cost.get("output"),
            "totalCost": None if obs.total_cost is None else float(obs.total_cost),
        }

    @extend_schema_field(serializers.DictField(child=serializers.IntegerField()))
    def get_usageDetails(self, obs: Observation) -> dict[str, int]:
        return {k: v for k, v in (obs.usage or {}).items() if isinstance(v, int)}

    @extend_schema_field(serializers.DictField(child=serializers.FloatField()))
    def get_costDetails(self, obs: Observation) -> dict[str, float]:
        return {k: float(v) for k, v in (obs.cost or {}).items() if isinstance(v, (int, float))}

    @extend_schema_field({"type": "number", "nullable": True})
    def get_totalCost(self, obs: Observation) -> float | None:
        return None if obs.total_cost is None else float(obs.total_cost)

    @extend_schema_field({"type": "number", "nullable": True})
    def get_latency(self, obs: Observation) -> float | None:
        return None if obs.end_time is None else (obs.end_time - obs.start_time).total_seconds()

    @extend_schema_field({"type": "number", "nullable": True})
    def get_timeToFirstToken(self, obs: Observation) -> float | None:
        if obs.completion_start_time is None:
            return None
        return (obs.completion_start_time - obs.start_time).total_seconds()


class ScoreTraceOut(serializers.Serializer):
    userId = serializers.CharField(source="user_id", allow_null=True)
    tags = serializers.ListField(child=serializers.CharField())
    environment = serializers.CharField()
    sessionId = serializers.CharField(source="session_id", allow_null=True)


def _langfuse_source(source: str) -> str:
    return ScoreSource.API if source == ScoreSource.FEEDBACK else source


class ScoreOut(serializers.Serializer):
    """Langfuse's Score (v1/v2 shape, discriminated by `dataType`)."""

    id = serializers.CharField()
    traceId = serializers.CharField(source="trace_id", allow_null=True)
    observationId = serializers.CharField(source="observation_id", allow_null=True)
    sessionId = serializers.CharField(source="session_id", allow_null=True)
    datasetRunId = serializers.CharField(source="dataset_run_id", allow_null=True)
    name = serializers.CharField()
    dataType = serializers.ChoiceField(source="data_type", choices=ScoreDataType.choices)
    value = serializers.SerializerMethodField()
    stringValue = serializers.SerializerMethodField()
    source = serializers.SerializerMethodField(help_text="Langfuse's source enum: FEEDBACK is reported as API.")
    sightlineSource = serializers.ChoiceField(
        source="source", choices=ScoreSource.choices, help_text="The stored source, FEEDBACK included."
    )
    timestamp = serializers.DateTimeField()
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")
    authorUserId = serializers.SerializerMethodField()
    comment = serializers.CharField(allow_null=True)
    metadata = MetadataField()
    configId = serializers.CharField(source="config_id", allow_null=True)
    queueId = serializers.SerializerMethodField()
    environment = serializers.CharField()

    @extend_schema_field({"type": "number", "nullable": True})
    def get_value(self, score: Score) -> float | None:
        # Langfuse always sends a number for categorical and boolean scores (0 when no value was mapped).
        if score.value is None and score.data_type in (ScoreDataType.CATEGORICAL, ScoreDataType.BOOLEAN):
            return 0.0
        return score.value

    @extend_schema_field({"type": "string", "nullable": True})
    def get_stringValue(self, score: Score) -> str | None:
        if score.string_value is None and score.data_type == ScoreDataType.BOOLEAN:
            return "True" if score.value else "False"
        if score.string_value is None and score.data_type in (ScoreDataType.CATEGORICAL, ScoreDataType.TEXT):
            return "" if score.value is None else f"{score.value:g}"
        return score.string_value

    @extend_schema_field(serializers.ChoiceField(choices=["API", "EVAL", "ANNOTATION"]))
    def get_source(self, score: Score) -> str:
        return _langfuse_source(score.source)

    @extend_schema_field({"type": "string", "nullable": True})
    def get_authorUserId(self, score: Score) -> str | None:
        return None if score.author_user_id is None else str(score.author_user_id)

    @extend_schema_field({"type": "string", "nullable": True})
    def get_queueId(self, score: Score) -> str | None:
        return None


class ScoreListItemOut(ScoreOut):
    """A list row adds the trace's context (context `traces` by id), as Langfuse's v2 scores list does."""

    trace = serializers.SerializerMethodField()

    @extend_schema_field(ScoreTraceOut(allow_null=True))
    def get_trace(self, score: Score) -> dict[str, Any] | None:
        trace = self.context["traces"].get(score.trace_id) if score.trace_id else None
        return None if trace is None else ScoreTraceOut(trace).data


SCORE_V3_GROUPS = ("details", "subject", "annotation")


class ScoreV3Out(serializers.Serializer):
    """Documents v3 scores: `value` is a number (NUMERIC), a boolean (BOOLEAN) or a string (the others)."""

    id = serializers.CharField()
    projectId = serializers.CharField()
    name = serializers.CharField()
    value = AnyJsonField()
    dataType = serializers.ChoiceField(choices=ScoreDataType.choices)
    source = serializers.ChoiceField(choices=["API", "EVAL", "ANNOTATION"])
    sightlineSource = serializers.ChoiceField(choices=ScoreSource.choices)
    timestamp = serializers.DateTimeField()
    environment = serializers.CharField()
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField()
    comment = serializers.CharField(allow_null=True, required=False)
    configId = serializers.CharField(allow_null=True, required=False)
    metadata = MetadataField(required=False)
    subject = serializers.DictField(allow_null=True, required=False)
    authorUserId = serializers.CharField(allow_null=True, required=False)
    queueId = serializers.CharField(allow_null=True, required=False)


def _subject(score: Score) -> dict[str, Any] | None:
    if score.observation_id:
        return {"kind": "observation", "id": score.observation_id, "traceId": score.trace_id}
    if score.trace_id:
        return {"kind": "trace", "id": score.trace_id}
    if score.session_id:
        return {"kind": "session", "id": score.session_id}
    if score.dataset_run_id:
        return {"kind": "experiment", "id": score.dataset_run_id}
    return None


def score_v3(score: Score, *, groups: set[str]) -> dict[str, Any]:
    """One v3 score: typed `value`, core fields always, the other groups when asked for."""
    view = ScoreOut(score).data
    if score.data_type == ScoreDataType.NUMERIC:
        value: Any = score.value
    elif score.data_type == ScoreDataType.BOOLEAN:
        value = bool(score.value)
    else:
        value = view["stringValue"]
    row: dict[str, Any] = {
        "id": score.id,
        "projectId": str(score.project_id),
        "name": score.name,
        "value": value,
        "dataType": score.data_type,
        "source": view["source"],
        "sightlineSource": score.source,
        "timestamp": view["timestamp"],
        "environment": score.environment,
        "createdAt": view["createdAt"],
        "updatedAt": view["updatedAt"],
    }
    if "details" in groups:
        row.update(comment=score.comment, configId=score.config_id, metadata=view["metadata"])
    if "subject" in groups:
        row["subject"] = _subject(score)
    if "annotation" in groups:
        row.update(authorUserId=view["authorUserId"], queueId=None)
    return row


class TraceDetailOut(TraceOut, TraceMetricsMixin):
    observations = ObservationOut(many=True)
    scores = ScoreOut(many=True)


class SessionOut(serializers.Serializer):
    id = serializers.CharField()
    createdAt = serializers.DateTimeField(source="created_at")
    projectId = serializers.CharField(source="project_id")
    environment = serializers.CharField()
    bookmarked = serializers.BooleanField()
    public = serializers.BooleanField()


class SessionDetailOut(SessionOut):
    traces = TraceOut(many=True)


class ConfigCategoryOut(serializers.Serializer):
    label = serializers.CharField()
    value = serializers.FloatField()


class ScoreConfigOut(serializers.Serializer):
    id = serializers.CharField(source="pk")
    name = serializers.CharField()
    dataType = serializers.CharField(source="data_type")
    isArchived = serializers.BooleanField(source="is_archived")
    minValue = serializers.FloatField(source="min_value", allow_null=True)
    maxValue = serializers.FloatField(source="max_value", allow_null=True)
    categories = serializers.SerializerMethodField()
    description = serializers.CharField(allow_null=True)
    projectId = serializers.CharField(source="project_id")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")

    @extend_schema_field(ConfigCategoryOut(many=True, allow_null=True))
    def get_categories(self, config: Any) -> list[dict[str, Any]] | None:
        if config.data_type == ScoreDataType.BOOLEAN:
            return [{"label": "True", "value": 1}, {"label": "False", "value": 0}]
        return config.categories if config.data_type == ScoreDataType.CATEGORICAL else None


class ObservationV2Out(serializers.Serializer):
    """Documents v2 observations: `core` fields always, the other groups only when asked for in `fields`."""

    id = serializers.CharField()
    traceId = serializers.CharField()
    startTime = serializers.DateTimeField()
    endTime = serializers.DateTimeField(allow_null=True)
    projectId = serializers.CharField()
    parentObservationId = serializers.CharField(allow_null=True)
    type = serializers.CharField()
    # basic
    name = serializers.CharField(allow_null=True, required=False)
    level = serializers.CharField(required=False)
    statusMessage = serializers.CharField(allow_null=True, required=False)
    version = serializers.CharField(allow_null=True, required=False)
    environment = serializers.CharField(required=False)
    bookmarked = serializers.BooleanField(allow_null=True, required=False)
    public = serializers.BooleanField(allow_null=True, required=False)
    userId = serializers.CharField(allow_null=True, required=False)
    sessionId = serializers.CharField(allow_null=True, required=False)
    isRootObservation = serializers.BooleanField(required=False)
    # time
    completionStartTime = serializers.DateTimeField(allow_null=True, required=False)
    createdAt = serializers.DateTimeField(required=False)
    updatedAt = serializers.DateTimeField(required=False)
    # io, metadata
    input = AnyJsonField(required=False)
    output = AnyJsonField(required=False)
    metadata = MetadataField(required=False)
    # model
    model = serializers.CharField(allow_null=True, required=False)
    internalModelId = serializers.CharField(allow_null=True, required=False)
    modelParameters = AnyJsonField(required=False)
    # usage
    usageDetails = serializers.DictField(child=serializers.IntegerField(), required=False)
    costDetails = serializers.DictField(child=serializers.FloatField(), required=False)
    totalCost = serializers.FloatField(allow_null=True, required=False)
    usagePricingTierName = serializers.CharField(allow_null=True, required=False)
    # prompt
    promptId = serializers.CharField(allow_null=True, required=False)
    promptName = serializers.CharField(allow_null=True, required=False)
    promptVersion = serializers.IntegerField(allow_null=True, required=False)
    # metrics
    latency = serializers.FloatField(allow_null=True, required=False)
    timeToFirstToken = serializers.FloatField(allow_null=True, required=False)
    # trace_context
    tags = serializers.ListField(child=serializers.CharField(), allow_null=True, required=False)
    release = serializers.CharField(allow_null=True, required=False)
    traceName = serializers.CharField(allow_null=True, required=False)


OBSERVATION_V2_GROUPS = (
    "core",
    "basic",
    "time",
    "io",
    "metadata",
    "model",
    "usage",
    "prompt",
    "metrics",
    "trace_context",
)


def observation_v2(obs: Observation, *, groups: set[str], trace: Trace | None) -> dict[str, Any]:
    """One v2 observation with the requested field groups (`core` always)."""
    row: dict[str, Any] = {
        "id": obs.id,
        "traceId": obs.trace_id,
        "startTime": obs.start_time,
        "endTime": obs.end_time,
        "projectId": str(obs.project_id),
        "parentObservationId": obs.parent_id,
        "type": obs.type,
    }
    view = ObservationOut(obs).data if groups & {"usage", "metrics", "metadata"} else None
    if "basic" in groups:
        row.update(
            name=obs.name,
            level=obs.level,
            statusMessage=obs.status_message,
            version=obs.version,
            environment=obs.environment,
            bookmarked=trace.bookmarked if trace else None,
            public=trace.public if trace else None,
            userId=trace.user_id if trace else None,
            sessionId=trace.session_id if trace else None,
            isRootObservation=obs.parent_id is None,
        )
    if "time" in groups:
        row.update(completionStartTime=obs.completion_start_time, createdAt=obs.created_at, updatedAt=obs.updated_at)
    if "io" in groups:
        row.update(input=obs.input, output=obs.output)
    if "metadata" in groups and view is not None:
        row["metadata"] = view["metadata"]
    if "model" in groups:
        row.update(
            model=obs.model,
            internalModelId=None if obs.price_id is None else str(obs.price_id),
            modelParameters=obs.model_parameters,
        )
    if "usage" in groups and view is not None:
        row.update(
            usageDetails=view["usageDetails"],
            costDetails=view["costDetails"],
            totalCost=view["totalCost"],
            usagePricingTierName=None,
        )
    if "prompt" in groups:
        row.update(promptId=None, promptName=obs.prompt_name, promptVersion=obs.prompt_version)
    if "metrics" in groups and view is not None:
        row.update(latency=view["latency"], timeToFirstToken=view["timeToFirstToken"])
    if "trace_context" in groups:
        row.update(
            tags=trace.tags if trace else None,
            release=trace.release if trace else None,
            traceName=trace.name if trace else None,
        )
    return row


class DeleteOut(serializers.Serializer):
    message = serializers.CharField()
    deleted = serializers.IntegerField(help_text="How many traces existed and were deleted (synchronously).")


class ModelUsageOut(serializers.Serializer):
    model = serializers.CharField(allow_null=True)
    inputUsage = serializers.IntegerField(source="input_usage")
    outputUsage = serializers.IntegerField(source="output_usage")
    totalUsage = serializers.IntegerField(source="total_usage")
    countTraces = serializers.IntegerField(source="count_traces")
    countObservations = serializers.IntegerField(source="count_observations")
    totalCost = serializers.FloatField(source="total_cost")


class DailyMetricsOut(serializers.Serializer):
    date = serializers.DateField()
    countTraces = serializers.IntegerField(source="count_traces")
    countObservations = serializers.IntegerField(source="count_observations")
    totalCost = serializers.FloatField(source="total_cost")
    usage = ModelUsageOut(many=True)


def paged(name: str, item: type[serializers.Serializer]) -> Any:
    """The `{data: [...], meta}` envelope for the schema."""
    return inline_serializer(name, {"data": item(many=True), "meta": MetaOut()})
