"""Reads only the prompt pages need (the registry's own reads, shared with the API, are in selectors.py)."""

from __future__ import annotations

from collections import Counter

from prompts.models import Prompt


def prompt_folders(*, project_id: int, folder: str = "") -> list[tuple[str, int]]:
    """The folders directly inside `folder` ("" is the top), each with how many prompts it holds at any depth.

    One query over the names under the folder: folders are only a naming convention ("a/b/name").
    """
    prefix = folder.rstrip("/") + "/" if folder else ""
    names = Prompt.objects.filter(project_id=project_id, name__startswith=prefix).values_list("name", flat=True)
    counts: Counter[str] = Counter()
    for name in names:
        rest = name[len(prefix) :]
        if "/" in rest:
            counts[prefix + rest.split("/", 1)[0]] += 1
    return sorted(counts.items())


def prompt_version_options(*, prompt: Prompt) -> list[tuple[int, str]]:
    """(version, commit message) of every version, newest first: the choices of label, split and diff pickers,
    without loading any version's content."""
    return list(prompt.versions.order_by("-version").values_list("version", "commit_message"))
