"""Forms for trace pages: Settings → Models & prices, Settings → Scores, and the score panel's annotate forms."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django import forms

from traces.models import Score, ScoreConfig, ScoreDataType

PRICE_FIELDS = (
    ("input", "Input"),
    ("output", "Output"),
    ("cache_read", "Cache read"),
    ("cache_write", "Cache write"),
    ("reasoning", "Reasoning"),
)
_MILLION = Decimal(1_000_000)


def _price_field(label: str) -> forms.DecimalField:
    return forms.DecimalField(
        label=f"{label} $/1M",
        required=False,
        min_value=Decimal(0),
        max_digits=14,
        decimal_places=6,
        widget=forms.NumberInput(attrs={"step": "any", "placeholder": "—"}),
    )


class ModelPriceForm(forms.Form):
    model_name = forms.CharField(label="Model name", max_length=200)
    match_pattern = forms.CharField(
        label="Match pattern",
        max_length=500,
        required=False,
        help_text="A regular expression matched against the model name; empty = exactly the model name.",
        widget=forms.TextInput(attrs={"placeholder": r"(?i)^(openai/)?gpt-4o(-\d{4}-\d{2}-\d{2})?$"}),
    )
    effective_from = forms.DateField(
        label="Effective from",
        required=False,
        help_text="UTC date; empty = applies to all traces.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    input = _price_field("Input")
    output = _price_field("Output")
    cache_read = _price_field("Cache read")
    cache_write = _price_field("Cache write")
    reasoning = _price_field("Reasoning")

    def clean_match_pattern(self) -> str:
        pattern = self.cleaned_data["match_pattern"].strip()
        if not pattern:
            return ""
        try:
            re.compile(pattern)
        except re.error as exc:
            raise forms.ValidationError(f"Not a valid regular expression: {exc}") from exc
        return pattern

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not any(data.get(name) is not None for name, _ in PRICE_FIELDS):
            raise forms.ValidationError("Give at least one price.")
        if not data.get("match_pattern") and data.get("model_name"):
            data["match_pattern"] = f"(?i)^{re.escape(data['model_name'].strip())}$"
        return data

    def prices(self) -> dict[str, float]:
        """USD per token by usage type, from the per-1M amounts entered."""
        return {
            name: float(self.cleaned_data[name] / _MILLION)
            for name, _ in PRICE_FIELDS
            if self.cleaned_data.get(name) is not None
        }

    def effective_from_datetime(self) -> datetime | None:
        day = self.cleaned_data.get("effective_from")
        return datetime(day.year, day.month, day.day, tzinfo=UTC) if day else None


# --- Score configs and annotation ------------------------------------------------------------------

MAX_COMMENT_CHARS = 5000
MAX_CATEGORIES = 50
_CONFIG_TYPES = [(t, t.capitalize()) for t in (ScoreDataType.NUMERIC, ScoreDataType.BOOLEAN, ScoreDataType.CATEGORICAL)]


class ScoreConfigForm(forms.Form):
    """A new score config. Categories are `label=value` lines, e.g. `correct=1`."""

    name = forms.CharField(label="Name", max_length=500, widget=forms.TextInput(attrs={"placeholder": "correctness"}))
    data_type = forms.ChoiceField(label="Data type", choices=_CONFIG_TYPES, initial=ScoreDataType.NUMERIC)
    min_value = forms.FloatField(label="Minimum", required=False, widget=forms.NumberInput(attrs={"step": "any"}))
    max_value = forms.FloatField(label="Maximum", required=False, widget=forms.NumberInput(attrs={"step": "any"}))
    categories = forms.CharField(
        label="Categories",
        required=False,
        help_text="Categorical only: one <code>label=value</code> per line, e.g. <code>correct=1</code>.",
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "correct=1\npartially correct=0.5\nincorrect=0"}),
    )
    description = forms.CharField(
        label="Description",
        required=False,
        max_length=2000,
        help_text="Shown to annotators next to the score.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args: Any, project_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.project_id = project_id

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if ScoreConfig.objects.filter(project_id=self.project_id, name=name).exists():
            raise forms.ValidationError("A score config with this name already exists (archived ones count too).")
        return name

    def clean_categories(self) -> list[dict[str, Any]]:
        categories: list[dict[str, Any]] = []
        for number, line in enumerate(self.cleaned_data["categories"].splitlines(), start=1):
            if not line.strip():
                continue
            label, sep, raw = line.rpartition("=")
            label = label.strip()
            if not sep or not label:
                raise forms.ValidationError(f"Line {number}: write label=value, e.g. correct=1.")
            try:
                value = float(raw.strip())
            except ValueError:
                raise forms.ValidationError(f"Line {number}: the value after = must be a number.") from None
            if not math.isfinite(value):
                raise forms.ValidationError(f"Line {number}: the value must be a finite number.")
            if any(c["label"] == label for c in categories):
                raise forms.ValidationError(f"Line {number}: the label “{label}” appears twice.")
            categories.append({"label": label, "value": int(value) if value.is_integer() else value})
        if len(categories) > MAX_CATEGORIES:
            raise forms.ValidationError(f"At most {MAX_CATEGORIES} categories.")
        return categories

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        data_type = data.get("data_type")
        if data_type == ScoreDataType.NUMERIC:
            low, high = data.get("min_value"), data.get("max_value")
            if low is not None and high is not None and low > high:
                self.add_error("max_value", "The maximum must not be below the minimum.")
        else:
            data["min_value"] = data["max_value"] = None  # a range means nothing for labels
        if data_type == ScoreDataType.CATEGORICAL:
            if "categories" in data and len(data["categories"]) < 2:
                self.add_error("categories", "Give at least two categories, one label=value per line.")
        else:
            data["categories"] = []
        return data


BOOLEAN_CHOICES = [("", "Choose…"), ("true", "True"), ("false", "False")]


class ScoreAnnotationForm(forms.Form):
    """One score for one config: the value field's kind follows the config's data type.

    `cleaned_data` gains `number` (float or None) and `label` (the string value or None)."""

    value = forms.CharField(label="Value")  # replaced in __init__ by the config's kind of field
    comment = forms.CharField(
        label="Comment",
        required=False,
        max_length=MAX_COMMENT_CHARS,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Why? (optional)"}),
    )

    def __init__(self, *args: Any, config: ScoreConfig, current: Score | None = None, **kwargs: Any) -> None:
        """`current`: the user's own score of this name on the target, shown as the starting value."""
        super().__init__(*args, **kwargs)
        self.config = config
        if current is not None:
            if config.data_type == ScoreDataType.NUMERIC:
                self.initial["value"] = current.value
            elif config.data_type == ScoreDataType.BOOLEAN:
                self.initial["value"] = (current.string_value or "").lower()
            else:
                self.initial["value"] = current.string_value
            self.initial["comment"] = current.comment or ""
        if config.data_type == ScoreDataType.NUMERIC:
            attrs: dict[str, Any] = {"step": "any"}
            if config.min_value is not None:
                attrs["min"] = config.min_value
            if config.max_value is not None:
                attrs["max"] = config.max_value
            self.fields["value"] = forms.FloatField(label=config.name, widget=forms.NumberInput(attrs=attrs))
        elif config.data_type == ScoreDataType.BOOLEAN:
            self.fields["value"] = forms.ChoiceField(label=config.name, choices=BOOLEAN_CHOICES)
        else:
            labels = [(c["label"], f"{c['label']} ({c['value']})") for c in config.categories]
            self.fields["value"] = forms.ChoiceField(label=config.name, choices=[("", "Choose…"), *labels])

    def clean_value(self) -> Any:
        value = self.cleaned_data["value"]
        config = self.config
        if config.data_type == ScoreDataType.NUMERIC:
            if config.min_value is not None and value < config.min_value:
                raise forms.ValidationError(f"Must be at least {config.min_value:g}.")
            if config.max_value is not None and value > config.max_value:
                raise forms.ValidationError(f"Must be at most {config.max_value:g}.")
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if "value" not in data:
            return data
        value, data_type = data["value"], self.config.data_type
        if data_type == ScoreDataType.NUMERIC:
            data["number"], data["label"] = float(value), None
        elif data_type == ScoreDataType.BOOLEAN:
            data["number"], data["label"] = (1.0, "True") if value == "true" else (0.0, "False")
        else:
            category = next(c for c in self.config.categories if c["label"] == value)
            data["number"], data["label"] = float(category["value"]), category["label"]
        data["comment"] = data.get("comment", "").strip() or None
        return data
