"""Forms for trace pages: the project model-price form of Settings → Models & prices."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django import forms

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
