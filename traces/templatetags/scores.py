"""`{% load scores %}`: scores as people read them, the same on the trace page, its score panel and the trace list.

`score|score_label` is a Score's value as text (thumbs as 👍 Up / 👎 Down, see `render.is_thumb`);
`score|is_thumb` says whether it is a thumb; `trace_score|thumbs_summary` is the trace list's chip for
a name's thumbs (selectors.TraceScore's `thumbs_up` / `thumbs_down`).
"""

from __future__ import annotations

from typing import Any

from django import template

from traces import render

register = template.Library()


@register.filter
def is_thumb(score: Any) -> bool:
    return render.is_thumb(name=score.name, data_type=score.data_type, source=score.source)


@register.filter
def score_label(score: Any) -> str:
    return render.score_text(
        value=score.value,
        string_value=score.string_value,
        data_type=score.data_type,
        name=score.name,
        source=score.source,
    )


@register.filter
def thumbs_summary(trace_score: Any) -> str:
    return render.thumbs_summary(up=trace_score.thumbs_up, down=trace_score.thumbs_down)
