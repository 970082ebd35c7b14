"""Writes for the prompt registry: versions, labels, splits, promotions and rollbacks.

Roles are enforced here, by the `actor_role` every service takes (pages pass `request.role`):
viewers only read; members create versions and move labels other than PROTECTED_LABELS; admins and owners
also move `production` and set, promote or end splits. Any change to a label that is currently a split (a
move, a rollback, a removal) ends the split, so it needs an admin too (`_require_label`). An API key acts as
an admin of its own project (the public API passes `Role.ADMIN` with `actor_api_key_id`). `latest` is moved
by the registry only.

Every label change is one transaction, locks the prompt row (two writers of one prompt queue up), is
audit-logged with who, when, from what and to what (`prompt.label.set`, `prompt.split.set`,
`prompt.split.delete`, `prompt.split.promote`, `prompt.label.rollback`, `prompt.label.delete`; target
`<name>@<label>`), re-checks composition (a move must not close a cycle), and retires the project's cached
fetches.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Max

from projects.models import ApiKey, AuditEvent, Project, Role, User
from projects.services import audit_record
from prompts.content import (
    Content,
    content_validate,
    label_validate,
    name_validate,
    references_parse,
    variables_detect,
)
from prompts.errors import PromptConflict, PromptError, PromptForbidden, PromptNotFound
from prompts.models import Prompt, PromptLabel, PromptLabelVariant, PromptVersion
from prompts.selectors import (
    LATEST_LABEL,
    PROTECTED_LABELS,
    LabelState,
    prompt_cache_generation_bump,
    prompt_compose,
    prompt_label_state,
)


def _require(actor_role: str, needed: str, what: str) -> None:
    if Role.rank(actor_role) < Role.rank(needed):
        raise PromptForbidden(f"{what} needs the {needed} role; you are {actor_role}.")


def _label_role(label: str) -> str:
    return Role.ADMIN if label in PROTECTED_LABELS else Role.MEMBER


def _require_label(actor_role: str, before: LabelState | None, what: str) -> None:
    """Checked under the prompt lock against the label's current state: a change that would end a split is
    split editing, which is for admins, whatever the label."""
    if before is not None and before.is_split:
        _require(actor_role, Role.ADMIN, f"{what} (it is a split; changing it ends the split)")


def _invalidate(project_id: int) -> None:
    # Now, for readers inside this transaction (and tests), and after commit, so an entry filled from the
    # old rows while we were writing is retired too.
    prompt_cache_generation_bump(project_id=project_id)
    transaction.on_commit(lambda: prompt_cache_generation_bump(project_id=project_id))


def _state_json(state: LabelState | None) -> dict[str, Any] | None:
    return state.as_json() if state else None


def _current_state(prompt: Prompt, label: str) -> LabelState | None:
    try:
        return prompt_label_state(prompt=prompt, label=label)
    except PromptNotFound:
        return None


def _audit(
    *,
    prompt: Prompt,
    project: Project,
    action: str,
    label: str,
    before: LabelState | None,
    actor: User | None,
    actor_api_key_id: int | None,
) -> None:
    audit_record(
        organization=project.organization,
        project=project,
        actor=actor,
        actor_api_key=ApiKey(pk=actor_api_key_id) if actor_api_key_id else None,
        action=action,
        target=f"{prompt.name}@{label}",
        before=_state_json(before),
        after=_state_json(_current_state(prompt, label)),
    )


def _check_composition(version: PromptVersion) -> None:
    """Refuses a write after which serving `version` would hit a missing reference or a cycle."""
    prompt_compose(version=version)


def _point(prompt: Prompt, label: str, version: PromptVersion) -> None:
    """The label serves `version` alone (any split ends)."""
    row, created = PromptLabel.objects.update_or_create(prompt=prompt, name=label, defaults={"version": version})
    if not created:
        PromptLabelVariant.objects.filter(label=row).delete()


def _locked_prompt(prompt: Prompt) -> tuple[Prompt, Project]:
    locked = Prompt.objects.select_for_update().get(pk=prompt.pk)
    project = Project.objects.select_related("organization").get(pk=locked.project_id)
    return locked, project


def _version_of(prompt: Prompt, version: int, field: str = "version") -> PromptVersion:
    row = prompt.versions.filter(version=version).first()
    if row is None:
        raise PromptNotFound(f"Prompt '{prompt.name}' has no version {version}.", field)
    return row


@transaction.atomic
def prompt_version_create(
    *,
    project: Project,
    name: str,
    content: Content,
    prompt_type: str | None = None,
    config: dict[str, Any] | None = None,
    labels: list[str] | None = None,
    commit_message: str = "",
    tags: list[str] | None = None,
    author: User | None = None,
    actor_api_key_id: int | None = None,
    actor_role: str = Role.ADMIN,
) -> PromptVersion:
    """Adds the next version of a prompt (creating the prompt on first use), moves `latest` to it and
    points `labels` at it (each such move audit-logged).

    Variables and included prompts are detected from the content; a missing included prompt or a cycle
    is refused (nothing is written). `tags`, when given, replace the prompt's tags. `prompt_type` is
    inferred from the content when omitted and must match the prompt's existing type. `actor_role`
    defaults to admin for system callers (the demo loader); pages must pass the user's role.
    """
    _require(actor_role, Role.MEMBER, "Creating a prompt version")
    name = name_validate(name)
    prompt_type, content = content_validate(content, prompt_type)
    if config is not None and not isinstance(config, dict):
        raise PromptError("config must be a JSON object.", "config")
    labels = list(dict.fromkeys(label_validate(label) for label in labels or []))
    if LATEST_LABEL in labels:
        labels.remove(LATEST_LABEL)  # always applied: accepted for Langfuse clients that send it
    for label in labels:
        _require(actor_role, _label_role(label), f"Moving the '{label}' label")
    if tags is not None and (not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags)):
        raise PromptError("tags must be a list of non-empty strings.", "tags")
    references = [r.as_json() for r in references_parse(content)]

    prompt, _ = Prompt.objects.get_or_create(project=project, name=name, defaults={"type": prompt_type})
    prompt, project = _locked_prompt(prompt)
    if prompt.type != prompt_type:
        raise PromptError(f"'{name}' is a {prompt.type} prompt; a new version must be {prompt.type} too.", "type")
    if tags is not None:
        prompt.tags = list(dict.fromkeys(tags))
    prompt.save(update_fields=["tags", "updated_at"])
    latest = prompt.versions.aggregate(latest=Max("version"))["latest"] or 0
    version = PromptVersion.objects.create(
        prompt=prompt,
        version=latest + 1,
        content=content,
        config=config or {},
        commit_message=commit_message or "",
        author=author,
        variables=variables_detect(content),
        references=references,
    )
    _point(prompt, LATEST_LABEL, version)
    _labels_point(
        prompt, project, labels, version, actor=author, actor_api_key_id=actor_api_key_id, actor_role=actor_role
    )
    _check_composition(version)
    _invalidate(project.pk)
    return version


def _labels_point(
    prompt: Prompt,
    project: Project,
    labels: list[str],
    version: PromptVersion,
    *,
    actor: User | None,
    actor_api_key_id: int | None,
    actor_role: str,
) -> None:
    """Points each label at `version`, audit-logging each move; a label already there is left alone.
    Moving a label that is a split ends the split: admins only."""
    for label in labels:
        before = _current_state(prompt, label)
        if before and not before.is_split and before.version == version.version:
            continue
        _require_label(actor_role, before, f"Moving the '{label}' label")
        _point(prompt, label, version)
        _audit(
            prompt=prompt,
            project=project,
            action="prompt.label.set",
            label=label,
            before=before,
            actor=actor,
            actor_api_key_id=actor_api_key_id,
        )


@transaction.atomic
def prompt_labels_add(
    *,
    version: PromptVersion,
    labels: list[str],
    actor: User | None = None,
    actor_api_key_id: int | None = None,
    actor_role: str,
) -> PromptVersion:
    """Points each label at `version` (Langfuse's PATCH `newLabels`): labels move from other versions, labels
    already on this version stay, a split on a moved label ends. Each move is audit-logged."""
    labels = list(dict.fromkeys(label_validate(label, "newLabels") for label in labels))
    if LATEST_LABEL in labels:
        raise PromptError("'latest' always points at the newest version and cannot be set.", "newLabels")
    for label in labels:
        _require(actor_role, _label_role(label), f"Moving the '{label}' label")
    prompt, project = _locked_prompt(version.prompt)
    _labels_point(
        prompt, project, labels, version, actor=actor, actor_api_key_id=actor_api_key_id, actor_role=actor_role
    )
    _check_composition(version)
    prompt.save(update_fields=["updated_at"])
    _invalidate(project.pk)
    return version


@transaction.atomic
def prompt_label_delete(
    *,
    prompt: Prompt,
    label: str,
    actor: User | None = None,
    actor_api_key_id: int | None = None,
    actor_role: str,
) -> None:
    """Removes a label (not `latest`); refused while another prompt includes this prompt by that label."""
    if label == LATEST_LABEL:
        raise PromptError("'latest' always points at the newest version and cannot be removed.", "label")
    _require(actor_role, _label_role(label), f"Removing the '{label}' label")
    prompt, project = _locked_prompt(prompt)
    before = _current_state(prompt, label)
    if before is None:
        raise PromptNotFound(f"Prompt '{prompt.name}' has no label '{label}'.", "label")
    _require_label(actor_role, before, f"Removing the '{label}' label")
    includer = (
        PromptVersion.objects.filter(
            prompt__project_id=prompt.project_id, references__contains=[{"name": prompt.name, "label": label}]
        )
        .select_related("prompt")
        .first()
    )
    if includer is not None:
        raise PromptConflict(
            f"'{includer.prompt.name}' v{includer.version} includes '{prompt.name}' by label '{label}'.", "label"
        )
    PromptLabel.objects.filter(prompt=prompt, name=label).delete()
    _audit(
        prompt=prompt,
        project=project,
        action="prompt.label.delete",
        label=label,
        before=before,
        actor=actor,
        actor_api_key_id=actor_api_key_id,
    )
    prompt.save(update_fields=["updated_at"])
    _invalidate(project.pk)


def _variants_validate(prompt: Prompt, variants: Any) -> list[tuple[PromptVersion, int]]:
    if not isinstance(variants, list) or not variants:
        raise PromptError("variants must be a non-empty list of {version, weight}.", "variants")
    parsed: list[tuple[PromptVersion, int]] = []
    for index, variant in enumerate(variants):
        field = f"variants[{index}]"
        if not isinstance(variant, dict):
            raise PromptError(f"{field} must be an object {{version, weight}}.", field)
        number, weight = variant.get("version"), variant.get("weight")
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise PromptError(f"{field}.version must be a positive integer.", f"{field}.version")
        if isinstance(weight, bool) or not isinstance(weight, int) or not 1 <= weight <= 100:
            raise PromptError(f"{field}.weight must be an integer from 1 to 100.", f"{field}.weight")
        if any(v.version == number for v, _ in parsed):
            raise PromptError(f"{field}: version {number} is listed twice.", f"{field}.version")
        row = prompt.versions.filter(version=number).first()
        if row is None:
            raise PromptError(f"{field}: '{prompt.name}' has no version {number}.", f"{field}.version")
        parsed.append((row, weight))
    total = sum(weight for _, weight in parsed)
    if total != 100:
        raise PromptError(f"variants' weights must sum to 100 (they sum to {total}).", "variants")
    return parsed


@transaction.atomic
def prompt_split_set(
    *,
    prompt: Prompt,
    label: str,
    variants: list[dict[str, Any]],
    actor: User | None = None,
    actor_api_key_id: int | None = None,
    actor_role: str,
) -> LabelState:
    """Makes `label` a weighted split, e.g. `[{"version": 7, "weight": 90}, {"version": 8, "weight": 10}]`
    (weights sum to 100; versions must exist). Creates the label if needed; its own version becomes the
    heaviest variant (the first listed on a tie). One variant at 100 simply points the label at it.
    Admins only; audit-logged as `prompt.split.set`."""
    label = label_validate(label, "label")
    if label == LATEST_LABEL:
        raise PromptError("'latest' always points at the newest version and cannot be a split.", "label")
    _require(actor_role, Role.ADMIN, "Editing a split")
    prompt, project = _locked_prompt(prompt)
    parsed = _variants_validate(prompt, variants)
    before = _current_state(prompt, label)
    primary = max(parsed, key=lambda pair: pair[1])[0]  # max() keeps the first on ties
    _point(prompt, label, primary)
    if len(parsed) > 1:
        row = PromptLabel.objects.get(prompt=prompt, name=label)
        PromptLabelVariant.objects.bulk_create(
            [PromptLabelVariant(label=row, version=version, weight=weight) for version, weight in parsed]
        )
    for version, _ in parsed:
        _check_composition(version)
    _audit(
        prompt=prompt,
        project=project,
        action="prompt.split.set",
        label=label,
        before=before,
        actor=actor,
        actor_api_key_id=actor_api_key_id,
    )
    prompt.save(update_fields=["updated_at"])
    _invalidate(project.pk)
    return prompt_label_state(prompt=prompt, label=label)


def _single_version_change(
    *,
    prompt: Prompt,
    label: str,
    action: str,
    pick: Any,
    actor: User | None,
    actor_api_key_id: int | None,
    actor_role: str,
    needed_role: str,
    what: str,
) -> LabelState:
    """The shared shape of split delete, promote and rollback: lock, choose a version, point, audit."""
    _require(actor_role, needed_role, what)
    prompt, project = _locked_prompt(prompt)
    before = _current_state(prompt, label)
    if before is None:
        raise PromptNotFound(f"Prompt '{prompt.name}' has no label '{label}'.", "label")
    _require_label(actor_role, before, what)
    target: PromptVersion = pick(prompt, before)
    if before.is_split or before.version != target.version:
        _point(prompt, label, target)
        _check_composition(target)
        _audit(
            prompt=prompt,
            project=project,
            action=action,
            label=label,
            before=before,
            actor=actor,
            actor_api_key_id=actor_api_key_id,
        )
        prompt.save(update_fields=["updated_at"])
        _invalidate(project.pk)
    return prompt_label_state(prompt=prompt, label=label)


@transaction.atomic
def prompt_split_delete(
    *,
    prompt: Prompt,
    label: str,
    version: int | None = None,
    actor: User | None = None,
    actor_api_key_id: int | None = None,
    actor_role: str,
) -> LabelState:
    """Ends a split: the label serves one version again, `version` if given, else the label's own version
    (the heaviest variant). A label that is no split is left as it is. Admins only; `prompt.split.delete`."""

    def pick(locked: Prompt, before: LabelState) -> PromptVersion:
        return _version_of(locked, version if version is not None else before.version)

    return _single_version_change(
        prompt=prompt,
        label=label,
        action="prompt.split.delete",
        pick=pick,
        actor=actor,
        actor_api_key_id=actor_api_key_id,
        actor_role=actor_role,
        needed_role=Role.ADMIN,
        what="Editing a split",
    )


@transaction.atomic
def prompt_split_promote(
    *,
    prompt: Prompt,
    label: str,
    version: int,
    actor: User | None = None,
    actor_api_key_id: int | None = None,
    actor_role: str,
) -> LabelState:
    """Promotes one variant of a split to 100% of the label's traffic. Admins only; `prompt.split.promote`."""

    def pick(locked: Prompt, before: LabelState) -> PromptVersion:
        if not any(v.version == version for v in before.variants):
            raise PromptError(f"Version {version} is not a variant of the '{label}' split.", "version")
        return _version_of(locked, version)

    return _single_version_change(
        prompt=prompt,
        label=label,
        action="prompt.split.promote",
        pick=pick,
        actor=actor,
        actor_api_key_id=actor_api_key_id,
        actor_role=actor_role,
        needed_role=Role.ADMIN,
        what="Editing a split",
    )


def _previous_version(prompt: Prompt, label: str, current: LabelState) -> int:
    """The version the label served before it last changed to something else (from the audit log)."""
    befores = AuditEvent.objects.filter(
        project_id=prompt.project_id, target=f"{prompt.name}@{label}", before__isnull=False
    ).order_by("-created_at", "-pk")
    for before in befores.values_list("before", flat=True).iterator():
        if current.is_split or before.get("version") != current.version:
            return int(before["version"])
    raise PromptError(f"'{label}' has no earlier version to roll back to.", "version")


@transaction.atomic
def prompt_label_rollback(
    *,
    prompt: Prompt,
    label: str,
    version: int | None = None,
    actor: User | None = None,
    actor_api_key_id: int | None = None,
    actor_role: str,
) -> LabelState:
    """Points the label back at an earlier version, ending any split: `version` if given, else the version
    the label served before its last change (read from the audit log). Admins for protected labels,
    members otherwise; `prompt.label.rollback`."""

    def pick(locked: Prompt, before: LabelState) -> PromptVersion:
        return _version_of(locked, version if version is not None else _previous_version(locked, label, before))

    return _single_version_change(
        prompt=prompt,
        label=label,
        action="prompt.label.rollback",
        pick=pick,
        actor=actor,
        actor_api_key_id=actor_api_key_id,
        actor_role=actor_role,
        needed_role=_label_role(label),
        what=f"Rolling back the '{label}' label",
    )
