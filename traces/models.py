"""The neutral trace model (ARCHITECTURE.md §2): traces, observations, sessions, scores, prices.

Every table's key starts with `project_id`, so it can later be distributed by project or
partitioned by time. Ids are the client's own text ids. There are deliberately no foreign-key
constraints on these high-volume tables: events arrive in any order (children before roots), and
a constraint check per ingested row buys nothing that the project-scoped writes don't already give.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Now

from projects.models import Project

ID_MAX = 800  # Langfuse accepts any id up to this length; OTel ids are 32/16 hex chars.
COST = {"max_digits": 20, "decimal_places": 12}


class ObservationType(models.TextChoices):
    SPAN = "SPAN"
    GENERATION = "GENERATION"
    EVENT = "EVENT"
    AGENT = "AGENT"
    TOOL = "TOOL"
    CHAIN = "CHAIN"
    RETRIEVER = "RETRIEVER"
    EMBEDDING = "EMBEDDING"
    GUARDRAIL = "GUARDRAIL"
    EVALUATOR = "EVALUATOR"


class Level(models.TextChoices):
    DEBUG = "DEBUG"
    DEFAULT = "DEFAULT"
    WARNING = "WARNING"
    ERROR = "ERROR"


class Trace(models.Model):
    pk = models.CompositePrimaryKey("project", "id")
    project = models.ForeignKey(
        Project, on_delete=models.DO_NOTHING, related_name="+", db_index=False, db_constraint=False
    )
    id = models.CharField(max_length=ID_MAX)
    name = models.CharField(max_length=1000, null=True, blank=True)
    timestamp = models.DateTimeField()
    user_id = models.CharField(max_length=1000, null=True, blank=True)
    session_id = models.CharField(max_length=1000, null=True, blank=True)
    tags = ArrayField(models.CharField(max_length=200), db_default=[], blank=True)
    metadata = models.JSONField(null=True, blank=True)
    input = models.JSONField(null=True, blank=True)
    output = models.JSONField(null=True, blank=True)
    environment = models.CharField(max_length=200, db_default="default")
    release = models.CharField(max_length=200, null=True, blank=True)
    version = models.CharField(max_length=200, null=True, blank=True)
    public = models.BooleanField(db_default=False)
    bookmarked = models.BooleanField(db_default=False)
    # Maintained from the trace's observations as they arrive (rollups).
    end_time = models.DateTimeField(null=True, blank=True)
    latency_ms = models.BigIntegerField(null=True, blank=True)
    total_cost = models.DecimalField(null=True, blank=True, **COST)
    input_tokens = models.BigIntegerField(db_default=0)
    output_tokens = models.BigIntegerField(db_default=0)
    total_tokens = models.BigIntegerField(db_default=0)
    observation_count = models.IntegerField(db_default=0)
    error_count = models.IntegerField(db_default=0)
    created_at = models.DateTimeField(db_default=Now())
    updated_at = models.DateTimeField(db_default=Now())

    class Meta:
        indexes = [
            # Time order and tags are indexed with the id and the project by 0004 (trace_sort_time,
            # trace_project_tags); 0006 dropped the narrower twins, which only cost writes.
            models.Index(fields=["project", "session_id", "timestamp"], name="trace_project_session"),
            models.Index(fields=["project", "user_id", "-timestamp"], name="trace_project_user"),
        ]

    def __str__(self) -> str:
        return f"{self.name or 'trace'} {self.id}"


class Observation(models.Model):
    pk = models.CompositePrimaryKey("project", "id")
    project = models.ForeignKey(
        Project, on_delete=models.DO_NOTHING, related_name="+", db_index=False, db_constraint=False
    )
    id = models.CharField(max_length=ID_MAX)
    trace_id = models.CharField(max_length=ID_MAX)
    parent_id = models.CharField(max_length=ID_MAX, null=True, blank=True)
    type = models.CharField(max_length=16, choices=ObservationType.choices, db_default=ObservationType.SPAN)
    name = models.CharField(max_length=1000, null=True, blank=True)
    start_time = models.DateTimeField()
    end_time = models.DateTimeField(null=True, blank=True)
    completion_start_time = models.DateTimeField(null=True, blank=True)
    level = models.CharField(max_length=8, choices=Level.choices, db_default=Level.DEFAULT)
    status_message = models.TextField(null=True, blank=True)
    model = models.CharField(max_length=200, null=True, blank=True)
    model_parameters = models.JSONField(null=True, blank=True)
    input = models.JSONField(null=True, blank=True)
    output = models.JSONField(null=True, blank=True)
    metadata = models.JSONField(null=True, blank=True)
    # Tokens by usage type ({"input": 10, "output": 5, "cache_read": 2, …}); totals as columns for sums.
    usage = models.JSONField(null=True, blank=True)
    input_tokens = models.BigIntegerField(null=True, blank=True)
    output_tokens = models.BigIntegerField(null=True, blank=True)
    total_tokens = models.BigIntegerField(null=True, blank=True)
    # Cost in USD by usage type, where it came from, and the price row used when computed.
    cost = models.JSONField(null=True, blank=True)
    total_cost = models.DecimalField(null=True, blank=True, **COST)
    cost_source = models.CharField(
        max_length=10, choices=[("provided", "provided"), ("computed", "computed")], null=True, blank=True
    )
    price_id = models.BigIntegerField(null=True, blank=True)
    prompt_name = models.CharField(max_length=500, null=True, blank=True)
    prompt_version = models.IntegerField(null=True, blank=True)
    environment = models.CharField(max_length=200, db_default="default")
    version = models.CharField(max_length=200, null=True, blank=True)
    created_at = models.DateTimeField(db_default=Now())
    updated_at = models.DateTimeField(db_default=Now())

    class Meta:
        indexes = [
            models.Index(fields=["project", "trace_id", "start_time"], name="obs_project_trace"),
            models.Index(fields=["project", "-start_time"], name="obs_project_time"),
            models.Index(
                fields=["project", "prompt_name", "prompt_version"],
                name="obs_project_prompt",
                condition=models.Q(prompt_name__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.name or self.id}"


class Session(models.Model):
    """A row per (project, session id), made when a trace names the session."""

    pk = models.CompositePrimaryKey("project", "id")
    project = models.ForeignKey(
        Project, on_delete=models.DO_NOTHING, related_name="+", db_index=False, db_constraint=False
    )
    id = models.CharField(max_length=1000)
    environment = models.CharField(max_length=200, db_default="default")
    bookmarked = models.BooleanField(db_default=False)
    public = models.BooleanField(db_default=False)
    created_at = models.DateTimeField(db_default=Now())

    def __str__(self) -> str:
        return self.id


class ScoreDataType(models.TextChoices):
    NUMERIC = "NUMERIC"
    BOOLEAN = "BOOLEAN"
    CATEGORICAL = "CATEGORICAL"
    TEXT = "TEXT"


class ScoreSource(models.TextChoices):
    API = "API"
    FEEDBACK = "FEEDBACK"
    ANNOTATION = "ANNOTATION"
    EVAL = "EVAL"


class Score(models.Model):
    pk = models.CompositePrimaryKey("project", "id")
    project = models.ForeignKey(
        Project, on_delete=models.DO_NOTHING, related_name="+", db_index=False, db_constraint=False
    )
    id = models.CharField(max_length=ID_MAX)
    name = models.CharField(max_length=500)
    value = models.FloatField(null=True, blank=True)
    string_value = models.TextField(null=True, blank=True)
    data_type = models.CharField(max_length=12, choices=ScoreDataType.choices, db_default=ScoreDataType.NUMERIC)
    source = models.CharField(max_length=12, choices=ScoreSource.choices, db_default=ScoreSource.API)
    trace_id = models.CharField(max_length=ID_MAX, null=True, blank=True)
    observation_id = models.CharField(max_length=ID_MAX, null=True, blank=True)
    session_id = models.CharField(max_length=1000, null=True, blank=True)
    dataset_run_id = models.CharField(max_length=ID_MAX, null=True, blank=True)
    comment = models.TextField(null=True, blank=True)
    metadata = models.JSONField(null=True, blank=True)
    author_user_id = models.BigIntegerField(null=True, blank=True)
    config_id = models.CharField(max_length=200, null=True, blank=True)
    environment = models.CharField(max_length=200, db_default="default")
    timestamp = models.DateTimeField()
    created_at = models.DateTimeField(db_default=Now())
    updated_at = models.DateTimeField(db_default=Now())

    class Meta:
        indexes = [
            models.Index(fields=["project", "trace_id"], name="score_project_trace"),
            models.Index(fields=["project", "session_id"], name="score_project_session"),
            models.Index(fields=["project", "name", "-timestamp"], name="score_project_name_time"),
        ]

    def __str__(self) -> str:
        return f"{self.name}={self.value if self.value is not None else self.string_value}"


class ModelPrice(models.Model):
    """USD per unit (token) by usage type. Project rows override built-ins (project null);
    among matching rows the newest `effective_from` that has started wins."""

    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    model_name = models.CharField(max_length=200)
    match_pattern = models.CharField(max_length=500, help_text="Regular expression matched against the model name.")
    prices = models.JSONField(help_text='USD per token by usage type, e.g. {"input": 2.5e-06, "output": 1e-05}')
    unit = models.CharField(max_length=20, default="TOKENS")
    effective_from = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "model_name", "effective_from"],
                name="price_unique",
                nulls_distinct=False,
            )
        ]

    def __str__(self) -> str:
        return f"{self.model_name} from {self.effective_from:%Y-%m-%d}"


class ScoreConfig(models.Model):
    """What an annotator may enter for a score name: a numeric range, a boolean, or a fixed set of
    categories (Langfuse's score configs). Archived configs stay readable for old scores."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=500)
    data_type = models.CharField(max_length=12, choices=ScoreDataType.choices)
    min_value = models.FloatField(null=True, blank=True)
    max_value = models.FloatField(null=True, blank=True)
    # For CATEGORICAL: [{"label": "correct", "value": 1}, …]; BOOLEAN implies True=1 / False=0.
    categories = models.JSONField(default=list, blank=True)
    description = models.TextField(blank=True)
    is_archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="score_config_name_unique")]

    def __str__(self) -> str:
        return f"{self.name} ({self.data_type})"
