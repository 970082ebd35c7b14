"""`{% open_in_playground project_id observation %}` (`{% load prompt_playground %}`): a generation's
"Open in playground" button.

The trace page (traces app) loads this: the form posts the generation's recorded input, model and model
parameters to the playground's prefill (prompts/views.py `prompt_playground`), so the call can be replayed;
with the prompt name and version the generation recorded, so the playground can open that version with
its variables recovered from the recorded messages.
"""

from __future__ import annotations

from typing import Any

import orjson
from django import template
from django.urls import reverse

register = template.Library()


@register.inclusion_tag("prompts/_open_in_playground.html", takes_context=True)
def open_in_playground(context: dict[str, Any], project_id: int, observation: Any) -> dict[str, Any]:
    if getattr(observation, "type", None) != "GENERATION" or observation.input is None:
        return {"show": False}
    prompt_name = getattr(observation, "prompt_name", None) or ""
    prompt_version = getattr(observation, "prompt_version", None)
    return {
        "show": True,
        "csrf_token": context.get("csrf_token"),
        "url": reverse("prompt-playground", args=[project_id]),
        "messages": orjson.dumps(observation.input).decode(),
        "model": observation.model or "",
        "parameters": orjson.dumps(observation.model_parameters or {}).decode(),
        "prompt_name": prompt_name,
        "prompt_version": prompt_version if prompt_name and prompt_version is not None else "",
    }
