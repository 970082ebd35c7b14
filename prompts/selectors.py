"""Reads for the prompt registry: lists, versions, label states, and `prompt_resolve` (what a fetch is served).

Every read is scoped by project: another project's prompt is reported as missing (PromptNotFound), never as
forbidden, so names reveal nothing.

Serving (`prompt_resolve`) is cached in Redis per project + name + label|version. A warm fetch is one cache
round trip (`get_many` of the entry, the project's prompt generation and, when the API key was accepted from
process memory, the key's own cache entry: `key_check`) and no database query; every prompt write in a
project bumps the generation (`prompt_cache_generation_bump`), which retires all of the project's entries at
once, including prompts that include the changed one.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import orjson
from django.core.cache import cache
from django.db.models import Prefetch, QuerySet

from projects.models import AuditEvent
from prompts.content import Content, content_substitute, references_parse
from prompts.errors import PromptConflict, PromptError, PromptNotFound
from prompts.models import Prompt, PromptLabel, PromptLabelVariant, PromptType, PromptVersion

log = logging.getLogger(__name__)

DEFAULT_LABEL = "production"
LATEST_LABEL = "latest"
# Only admins move these (and edit any split); members move every other label.
PROTECTED_LABELS = frozenset({"production"})
BUCKETS = 10_000
MAX_NESTING_DEPTH = 5
CACHE_SECONDS = 3600  # the generation retires entries on writes; the timeout only bounds memory


# --- lists and single rows (pages and the list API) ---


@dataclass(frozen=True)
class PromptPage:
    rows: list[dict[str, Any]]  # Langfuse's PromptMeta shape
    total: int


def prompt_list(
    *,
    project_id: int,
    name: str | None = None,
    label: str | None = None,
    tag: str | None = None,
    search: str | None = None,
    folder: str | None = None,
    page: int = 1,
    limit: int = 50,
) -> PromptPage:
    """Prompts by name, a page at a time, in Langfuse's PromptMeta shape: four queries whatever the page size.

    `name` is exact, `search` a case-insensitive substring, `folder` a name prefix (`support` lists
    `support/…`); with `label`, only versions carrying that label are listed.
    """
    prompts = Prompt.objects.filter(project_id=project_id)
    if name:
        prompts = prompts.filter(name=name)
    if search:
        prompts = prompts.filter(name__icontains=search)
    if folder:
        prompts = prompts.filter(name__startswith=folder.rstrip("/") + "/")
    if tag:
        prompts = prompts.filter(tags__contains=[tag])
    if label:
        prompts = prompts.filter(labels__name=label)
    total = prompts.count()
    page_rows = list(prompts.order_by("name")[(page - 1) * limit : page * limit])
    ids = [p.pk for p in page_rows]
    versions = PromptVersion.objects.filter(prompt_id__in=ids)
    if label:
        versions = versions.filter(labels__name=label)
    by_prompt: dict[int, list[dict[str, Any]]] = {}
    for row in versions.order_by("prompt_id", "version").values("prompt_id", "version", "config"):
        by_prompt.setdefault(row["prompt_id"], []).append(row)
    labels: dict[int, list[tuple[str, int]]] = {}
    for row in PromptLabel.objects.filter(prompt_id__in=ids).order_by("pk").values("prompt_id", "name", "version_id"):
        labels.setdefault(row["prompt_id"], []).append((row["name"], row["version_id"]))
    listed_version_ids = set(versions.values_list("pk", flat=True)) if label else None
    rows = []
    for prompt in page_rows:
        own = by_prompt.get(prompt.pk, [])
        rows.append(
            {
                "name": prompt.name,
                "type": prompt.type,
                "versions": [v["version"] for v in own],
                "labels": [
                    n for n, vid in labels.get(prompt.pk, []) if listed_version_ids is None or vid in listed_version_ids
                ],
                "tags": prompt.tags,
                "lastUpdatedAt": prompt.updated_at.isoformat(),
                "lastConfig": own[-1]["config"] if own else None,
            }
        )
    return PromptPage(rows=rows, total=total)


def prompt_get(*, project_id: int, name: str) -> Prompt:
    """The project's prompt with this name; PromptNotFound otherwise."""
    prompt = Prompt.objects.filter(project_id=project_id, name=name).first()
    if prompt is None:
        raise PromptNotFound(f"Prompt not found: '{name}'.", "name")
    return prompt


def prompt_versions(*, prompt: Prompt) -> QuerySet[PromptVersion]:
    """Newest first, with author and labels loaded (two queries for the whole timeline)."""
    return (
        prompt.versions.select_related("author")
        .prefetch_related(Prefetch("labels", queryset=PromptLabel.objects.order_by("pk")))
        .order_by("-version")
    )


def prompt_version_get(*, prompt: Prompt, version: int) -> PromptVersion:
    row = prompt.versions.select_related("author").filter(version=version).first()
    if row is None:
        raise PromptNotFound(f"Prompt not found: '{prompt.name}' with version {version}.", "version")
    return row


@dataclass(frozen=True)
class Variant:
    version: int
    weight: int


@dataclass(frozen=True)
class LabelState:
    """What a label serves: its own `version`, or a split over `variants` (weights sum to 100)."""

    name: str
    version: int
    variants: list[Variant] = field(default_factory=list)
    updated_at: datetime | None = None

    @property
    def is_split(self) -> bool:
        return bool(self.variants)

    @property
    def protected(self) -> bool:
        return self.name in PROTECTED_LABELS

    @property
    def admin_only(self) -> bool:
        """Only admins change it: a protected label, or any split (moving, rolling back or removing ends it)."""
        return self.protected or self.is_split

    @property
    def serves(self) -> list[Variant]:
        """The traffic share per version, as an editor shows it."""
        return self.variants or [Variant(version=self.version, weight=100)]

    def as_json(self) -> dict[str, Any]:
        return {
            "label": self.name,
            "version": self.version,
            "isSplit": self.is_split,
            "variants": [{"version": v.version, "weight": v.weight} for v in self.serves],
        }


def _label_states(labels: QuerySet[PromptLabel]) -> list[LabelState]:
    rows = labels.select_related("version").prefetch_related(
        Prefetch("variants", queryset=PromptLabelVariant.objects.select_related("version").order_by("version__version"))
    )
    return [
        LabelState(
            name=label.name,
            version=label.version.version,
            variants=[Variant(version=v.version.version, weight=v.weight) for v in label.variants.all()],
            updated_at=label.updated_at,
        )
        for label in rows
    ]


def prompt_label_states(*, prompt: Prompt) -> list[LabelState]:
    """Every label of the prompt and what it serves (two queries)."""
    return _label_states(prompt.labels.order_by("name"))


def prompt_label_state(*, prompt: Prompt, label: str) -> LabelState:
    states = _label_states(prompt.labels.filter(name=label))
    if not states:
        raise PromptNotFound(f"Prompt '{prompt.name}' has no label '{label}'.", "label")
    return states[0]


def prompt_audit_events(*, prompt: Prompt, limit: int = 50) -> QuerySet[AuditEvent]:
    """Label moves, splits, promotions and rollbacks of this prompt, newest first (who, when, from, to)."""
    return (
        AuditEvent.objects.filter(project_id=prompt.project_id, action__startswith="prompt.")
        .filter(target__startswith=f"{prompt.name}@")
        .select_related("actor", "actor_api_key")
        .order_by("-created_at", "-pk")[:limit]
    )


# --- composition ---


def _reference_target(project_id: int, reference: Any) -> PromptVersion:
    """The version a reference includes: a fixed version, or the label's own version (never a split arm)."""
    rows = PromptVersion.objects.select_related("prompt").filter(
        prompt__project_id=project_id, prompt__name=reference.name
    )
    if reference.label:
        target = rows.filter(labels__name=reference.label).first()
        what = f"label '{reference.label}'"
    else:
        target = rows.filter(version=reference.version).first()
        what = f"version {reference.version}"
    if target is None:
        raise PromptError(f"Referenced prompt not found: '{reference.name}' with {what}.", "prompt")
    if target.prompt.type != PromptType.TEXT:
        raise PromptError(f"Referenced prompt '{reference.name}' is a chat prompt; only text prompts can be included.")
    return target


def prompt_compose(*, version: PromptVersion, _path: tuple[int, ...] = ()) -> tuple[Content, list[dict[str, Any]]]:
    """The version's content with every included prompt resolved, and the edges followed (for resolutionGraph).

    An included label resolves to that label's own version: splits apply where a prompt is fetched, not
    inside another prompt. Raises PromptError for a missing reference and PromptConflict for a cycle or
    nesting deeper than MAX_NESTING_DEPTH.
    """
    path = (*_path, version.pk)
    references = references_parse(version.content) if version.references else []
    replacements: dict[str, str] = {}
    edges: list[dict[str, Any]] = []
    for reference in references:
        target = _reference_target(version.prompt.project_id, reference)
        if target.pk in path:
            raise PromptConflict(
                f"Prompt composition cycle: '{version.prompt.name}' v{version.version} includes "
                f"'{target.prompt.name}' v{target.version}, which already includes it.",
                "prompt",
            )
        if len(path) > MAX_NESTING_DEPTH:
            raise PromptConflict(f"Prompts may be nested at most {MAX_NESTING_DEPTH} levels deep.", "prompt")
        text, child_edges = prompt_compose(version=target, _path=path)
        replacements[reference.tag] = str(text)
        edges.append(
            {
                "parent": {"id": str(version.pk), "name": version.prompt.name, "version": version.version},
                "child": {"id": str(target.pk), "name": target.prompt.name, "version": target.version},
                "reference": reference.as_json(),
            }
        )
        edges.extend(child_edges)
    return content_substitute(version.content, replacements), edges


def content_compose(*, project_id: int, content: Content) -> Content:
    """Unsaved content (the playground's messages) with its included prompts resolved, as a fetch resolves
    them. Raises PromptError for a malformed or missing reference (a cycle cannot start from unsaved text)."""
    replacements: dict[str, str] = {}
    for reference in references_parse(content):
        target = _reference_target(project_id, reference)
        replacements[reference.tag] = str(prompt_compose(version=target)[0])
    return content_substitute(content, replacements)


# --- serving ---


def assignment_bucket(*, prompt_id: int, label: str, assignment_key: str) -> int:
    """A key's bucket in 0..9999 for this prompt's label: the same key always lands in the same bucket.

    Keyed by prompt and label too, so one user is not in the first arm of every experiment at once.
    """
    digest = hashlib.sha256(f"{prompt_id}:{label}:{assignment_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def prompt_body(
    *,
    version: PromptVersion,
    labels: list[str],
    content: Content | None = None,
    edges: list[dict[str, Any]] | None = None,
    variant: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A version in Langfuse's prompt shape, plus `servedVersion` and `variant` (the split arm served, or null)."""
    prompt = version.prompt
    return {
        "id": str(version.pk),
        "createdAt": version.created_at.isoformat(),
        "updatedAt": version.created_at.isoformat(),
        "projectId": str(prompt.project_id),
        "createdBy": version.author.email if version.author else "API",
        "name": prompt.name,
        "version": version.version,
        "type": prompt.type,
        "prompt": version.content if content is None else content,
        "config": version.config,
        "labels": labels,
        "tags": prompt.tags,
        "commitMessage": version.commit_message or None,
        "resolutionGraph": {
            "root": {"id": str(version.pk), "name": prompt.name, "version": version.version},
            "dependencies": edges,
        }
        if edges
        else None,
        "isActive": DEFAULT_LABEL in labels,
        "servedVersion": version.version,
        "variant": variant,
    }


def version_labels(*, version: PromptVersion) -> list[str]:
    return list(PromptLabel.objects.filter(version=version).order_by("pk").values_list("name", flat=True))


@dataclass(frozen=True)
class ServedPrompt:
    """One fetch's answer: the JSON bytes (Langfuse's prompt object), their ETag, and which arm was served."""

    content: bytes
    etag: str
    version: int
    label: str | None
    bucket: int | None  # the assignment bucket when the label is a split, else None

    @property
    def body(self) -> dict[str, Any]:
        return orjson.loads(self.content)


def _generation_key(project_id: int) -> str:
    return f"prompts:gen:{project_id}"


def _entry_key(project_id: int, name: str, label: str | None, version: int | None, resolve: bool) -> str:
    which = f"v:{version}" if version is not None else f"l:{label}"
    # Names and labels are user text of any length and script: hash them into a safe, bounded key.
    digest = hashlib.sha256(f"{name}\0{which}".encode()).hexdigest()[:32]
    return f"prompts:{project_id}:{digest}:{int(resolve)}"


def prompt_cache_generation_bump(*, project_id: int) -> None:
    """Retires every cached fetch of the project (called by each write, inside and after its transaction)."""
    key = _generation_key(project_id)
    try:
        try:
            cache.incr(key)
        except ValueError:  # never set or evicted: any fresh value differs from what entries carry
            cache.set(key, time.time_ns(), None)
    except Exception:
        log.warning("prompt cache unavailable; cached prompts expire by timeout", exc_info=True)


def _arm(version: PromptVersion, *, resolve: bool, variant: dict[str, Any] | None) -> dict[str, Any]:
    content, edges = prompt_compose(version=version) if resolve else (version.content, [])
    body = prompt_body(
        version=version, labels=version_labels(version=version), content=content, edges=edges, variant=variant
    )
    raw = orjson.dumps(body)
    return {
        "version": version.version,
        "weight": variant["weight"] if variant else 100,
        "content": raw,
        "etag": '"' + hashlib.sha256(raw).hexdigest()[:32] + '"',
    }


def _entry_build(project_id: int, name: str, label: str | None, version: int | None, resolve: bool) -> dict[str, Any]:
    """What a cache entry holds: the prompt id and one pre-rendered body per arm (one arm unless a split)."""
    prompt = Prompt.objects.filter(project_id=project_id, name=name).first()
    missing = f"Prompt not found: '{name}' with " + (
        f"version {version}" if version is not None else f"label '{label}'"
    )
    if prompt is None:
        return {"missing": missing}
    if version is not None:
        row = prompt.versions.select_related("author", "prompt").filter(version=version).first()
        if row is None:
            return {"missing": missing}
        return {"prompt_id": prompt.pk, "arms": [_arm(row, resolve=resolve, variant=None)]}
    label_row = (
        prompt.labels.filter(name=label)
        .select_related("version__author", "version__prompt")
        .prefetch_related(
            Prefetch(
                "variants",
                queryset=PromptLabelVariant.objects.select_related("version__author", "version__prompt").order_by(
                    "version__version"
                ),
            )
        )
        .first()
    )
    if label_row is None:
        return {"missing": missing}
    variants = list(label_row.variants.all())
    if not variants:
        return {"prompt_id": prompt.pk, "arms": [_arm(label_row.version, resolve=resolve, variant=None)]}
    split = [{"version": v.version.version, "weight": v.weight} for v in variants]
    return {
        "prompt_id": prompt.pk,
        "arms": [
            _arm(v.version, resolve=resolve, variant={"label": label, "weight": v.weight, "split": split})
            for v in variants
        ],
    }


class KeyCheck(Protocol):
    """A caller's API key still to be confirmed by its cache entry (projects.auth.ApiKeyCheck): read in the
    fetch's own round trip, then `check(value)` raises unless the key is still active."""

    @property
    def cache_key(self) -> str: ...

    def check(self, cached: Any) -> None: ...


def _cached_entry(
    project_id: int, name: str, label: str | None, version: int | None, resolve: bool, key_check: KeyCheck | None
) -> dict[str, Any]:
    key, gen_key = _entry_key(project_id, name, label, version, resolve), _generation_key(project_id)
    keys = [key, gen_key] if key_check is None else [key, gen_key, key_check.cache_key]
    try:
        found = cache.get_many(keys)
    except Exception:
        log.warning("prompt cache unavailable; serving from the database", exc_info=True)
        if key_check is not None:
            key_check.check(None)  # the database decides
        return _entry_build(project_id, name, label, version, resolve)
    if key_check is not None:
        key_check.check(found.get(key_check.cache_key))  # before anything is served
    entry, generation = found.get(key), found.get(gen_key)
    if entry is not None and generation is not None and entry.get("gen") == generation:
        return entry
    try:
        if generation is None:
            cache.add(gen_key, time.time_ns(), None)
            generation = cache.get(gen_key)
        # Read the generation before the rows: a write committing meanwhile bumps it and retires this entry.
        entry = _entry_build(project_id, name, label, version, resolve)
        cache.set(key, {**entry, "gen": generation}, CACHE_SECONDS)
    except PromptError:
        raise
    except Exception:
        log.warning("prompt cache unavailable; serving from the database", exc_info=True)
        entry = _entry_build(project_id, name, label, version, resolve)
    return entry


def prompt_resolve(
    *,
    project_id: int,
    name: str,
    label: str | None = None,
    version: int | None = None,
    assignment_key: str | None = None,
    resolve: bool = True,
    key_check: KeyCheck | None = None,
) -> ServedPrompt:
    """What a fetch of `name` by `label` or `version` serves (no label and no version means `production`).

    For a split label the arm is chosen by `assignment_bucket(prompt, label, assignment_key)` against the
    variants' cumulative weights (ordered by version, so shifting weights moves only the keys that must
    move); without a key the arm is drawn at random, weighted. Included prompts are resolved unless
    `resolve=False`. Raises PromptNotFound; a composition problem raises PromptError/PromptConflict.
    `key_check` is confirmed in the same cache read (and raises when the key is no longer active).
    Warm: one cache round trip, no database query.
    """
    if version is None and not label:
        label = DEFAULT_LABEL
    entry = _cached_entry(project_id, name, None if version is not None else label, version, resolve, key_check)
    if "missing" in entry:
        raise PromptNotFound(entry["missing"], "version" if version is not None else "label")
    arms = entry["arms"]
    bucket = None
    chosen = arms[0]
    if len(arms) > 1:
        bucket = (
            assignment_bucket(prompt_id=entry["prompt_id"], label=str(label), assignment_key=assignment_key)
            if assignment_key
            else random.randrange(BUCKETS)  # noqa: S311 -- traffic splitting, not security
        )
        edge = 0
        for arm in arms:
            edge += arm["weight"] * BUCKETS // 100
            if bucket < edge:
                chosen = arm
                break
    return ServedPrompt(
        content=chosen["content"],
        etag=chosen["etag"],
        version=chosen["version"],
        label=None if version is not None else label,
        bucket=bucket,
    )
