"""Server-side A/B splits: weighted, sticky assignment; the split API; promote, roll back; every change audited."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from django.test import Client

from projects.models import AuditEvent, Role
from prompts import selectors, services
from prompts.errors import PromptError
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db

BASE = "/api/public/v2/prompts"
KEYS = 10_000


def _call(client: Client, tenant: Tenant, method: str, path: str, body: Any = None) -> Any:
    kwargs: dict[str, Any] = {"HTTP_AUTHORIZATION": tenant.basic_auth}
    if body is not None:
        kwargs.update(data=body, content_type="application/json")
    return getattr(client, method)(path, **kwargs)


@pytest.fixture
def eight_versions(acme: Tenant) -> Any:
    """`checkout/upsell` v1..v8, production on v7."""
    for number in range(1, 9):
        services.prompt_version_create(
            project=acme.project,
            name="checkout/upsell",
            content=f"Offer {{{{item}}}} (variant {number})",
            labels=["production"] if number == 7 else [],
        )
    return selectors.prompt_get(project_id=acme.project.pk, name="checkout/upsell")


def _served(acme: Tenant, key: str) -> int:
    return selectors.prompt_resolve(project_id=acme.project.pk, name="checkout/upsell", assignment_key=key).version


def test_ninety_ten_split_over_ten_thousand_keys_is_sticky(client: Client, acme: Tenant, eight_versions: Any) -> None:
    split = {"variants": [{"version": 7, "weight": 90}, {"version": 8, "weight": 10}]}
    response = _call(client, acme, "put", f"{BASE}/checkout%2Fupsell/splits/production", split)
    assert response.status_code == 200, response.content
    assert response.json() == {
        "name": "checkout/upsell",
        "label": "production",
        "version": 7,
        "isSplit": True,
        "variants": [{"version": 7, "weight": 90}, {"version": 8, "weight": 10}],
    }

    first = {f"user-{index}": _served(acme, f"user-{index}") for index in range(KEYS)}
    shares = Counter(first.values())
    assert set(shares) == {7, 8}
    assert abs(shares[7] / KEYS - 0.90) <= 0.02 and abs(shares[8] / KEYS - 0.10) <= 0.02, shares
    # Sticky: the same key gets the same version on every fetch, through the API too.
    assert all(_served(acme, key) == version for key, version in list(first.items())[:2000])
    for key in ("user-1", "user-2", "user-3", next(k for k, v in first.items() if v == 8)):
        body = _call(client, acme, "get", f"{BASE}/checkout%2Fupsell?assignmentKey={key}").json()
        assert body["version"] == body["servedVersion"] == first[key]
        assert body["prompt"] == f"Offer {{{{item}}}} (variant {first[key]})"
        assert body["variant"] == {
            "label": "production",
            "weight": 90 if first[key] == 7 else 10,
            "split": [{"version": 7, "weight": 90}, {"version": 8, "weight": 10}],
        }

    # Ramping 90/10 to 70/30 moves only keys from v7 to v8: nobody who saw v8 goes back.
    ramp = {"variants": [{"version": 7, "weight": 70}, {"version": 8, "weight": 30}]}
    assert _call(client, acme, "put", f"{BASE}/checkout%2Fupsell/splits/production", ramp).status_code == 200
    after = {key: _served(acme, key) for key in list(first)[:3000]}
    assert all(after[key] == 8 for key in after if first[key] == 8)
    assert 0.25 <= sum(1 for v in after.values() if v == 8) / len(after) <= 0.35


def test_split_without_assignment_key_draws_by_weight(acme: Tenant, eight_versions: Any) -> None:
    services.prompt_split_set(
        prompt=eight_versions,
        label="production",
        variants=[{"version": 7, "weight": 50}, {"version": 8, "weight": 50}],
        actor_role=Role.ADMIN,
    )
    drawn = Counter(
        selectors.prompt_resolve(project_id=acme.project.pk, name="checkout/upsell").version for _ in range(400)
    )
    assert set(drawn) == {7, 8} and min(drawn.values()) > 120


def test_split_get_delete_and_audit_rows(client: Client, acme: Tenant, eight_versions: Any) -> None:
    path = f"{BASE}/checkout%2Fupsell/splits/production"
    single = _call(client, acme, "get", path).json()
    assert single["isSplit"] is False and single["variants"] == [{"version": 7, "weight": 100}]

    split = {"variants": [{"version": 8, "weight": 20}, {"version": 6, "weight": 80}]}
    assert _call(client, acme, "put", path, split).json()["version"] == 6  # the heaviest arm is the label's own
    assert _call(client, acme, "get", path).json()["variants"] == [
        {"version": 6, "weight": 80},
        {"version": 8, "weight": 20},
    ]
    ended = _call(client, acme, "delete", path)
    assert ended.status_code == 200 and ended.json()["isSplit"] is False and ended.json()["version"] == 6
    assert _call(client, acme, "get", f"{BASE}/checkout%2Fupsell?assignmentKey=u1").json()["version"] == 6
    assert _call(client, acme, "delete", path).json()["version"] == 6  # ending no split changes nothing

    events = list(AuditEvent.objects.filter(project=acme.project, target="checkout/upsell@production").order_by("pk"))
    assert [e.action for e in events] == ["prompt.label.set", "prompt.split.set", "prompt.split.delete"]
    set_event, delete_event = events[1], events[2]
    assert set_event.actor_api_key is not None and set_event.actor_api_key.public_key == acme.public_key
    assert set_event.before == {
        "label": "production",
        "version": 7,
        "isSplit": False,
        "variants": [{"version": 7, "weight": 100}],
    }
    assert set_event.after["isSplit"] is True and set_event.after["variants"][1] == {"version": 8, "weight": 20}
    assert delete_event.before["isSplit"] is True and delete_event.after["variants"] == [{"version": 6, "weight": 100}]
    assert set_event.organization_id == acme.organization.pk and set_event.created_at is not None


def test_promote_and_rollback_are_one_audited_action_each(acme: Tenant, alice: Any, eight_versions: Any) -> None:
    services.prompt_split_set(
        prompt=eight_versions,
        label="production",
        variants=[{"version": 7, "weight": 90}, {"version": 8, "weight": 10}],
        actor=alice,
        actor_role=Role.OWNER,
    )
    with pytest.raises(PromptError, match="not a variant"):
        services.prompt_split_promote(
            prompt=eight_versions, label="production", version=3, actor=alice, actor_role=Role.ADMIN
        )
    promoted = services.prompt_split_promote(
        prompt=eight_versions, label="production", version=8, actor=alice, actor_role=Role.ADMIN
    )
    assert not promoted.is_split and promoted.version == 8
    assert {_served(acme, f"k{i}") for i in range(200)} == {8}

    rolled = services.prompt_label_rollback(
        prompt=eight_versions, label="production", actor=alice, actor_role=Role.ADMIN
    )
    assert rolled.version == 7 and not rolled.is_split  # before the promotion: the split's own version
    assert _served(acme, "anyone") == 7
    explicit = services.prompt_label_rollback(
        prompt=eight_versions, label="production", version=2, actor=alice, actor_role=Role.ADMIN
    )
    assert explicit.version == 2

    events = AuditEvent.objects.filter(project=acme.project, target="checkout/upsell@production").order_by("pk")
    tail = [(e.action, e.actor_id, e.before["version"], e.after["version"]) for e in list(events)[-4:]]
    assert tail == [
        ("prompt.split.set", alice.pk, 7, 7),
        ("prompt.split.promote", alice.pk, 7, 8),
        ("prompt.label.rollback", alice.pk, 8, 7),
        ("prompt.label.rollback", alice.pk, 7, 2),
    ]


@pytest.mark.parametrize(
    ("variants", "field"),
    [
        (None, "variants"),
        ([], "variants"),
        ([{"version": 7, "weight": 90}, {"version": 8, "weight": 20}], "variants"),
        ([{"version": 7, "weight": 90}, {"version": 99, "weight": 10}], "variants[1].version"),
        ([{"version": 7, "weight": 90}, {"version": 7, "weight": 10}], "variants[1].version"),
        ([{"version": "7", "weight": 90}, {"version": 8, "weight": 10}], "variants[0].version"),
        ([{"version": 7, "weight": 100.5}], "variants[0].weight"),
        ([{"version": 7, "weight": 0}, {"version": 8, "weight": 100}], "variants[0].weight"),
        (["v7"], "variants[0]"),
    ],
)
def test_bad_split_names_the_field(
    client: Client, acme: Tenant, eight_versions: Any, variants: Any, field: str
) -> None:
    response = _call(client, acme, "put", f"{BASE}/checkout%2Fupsell/splits/production", {"variants": variants})
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field
    assert not AuditEvent.objects.filter(action="prompt.split.set").exists()


def test_latest_cannot_be_split_and_unknown_labels_are_404(client: Client, acme: Tenant, eight_versions: Any) -> None:
    body = {"variants": [{"version": 7, "weight": 50}, {"version": 8, "weight": 50}]}
    latest = _call(client, acme, "put", f"{BASE}/checkout%2Fupsell/splits/latest", body)
    assert latest.status_code == 400 and latest.json()["field"] == "label"
    assert _call(client, acme, "get", f"{BASE}/checkout%2Fupsell/splits/nope").status_code == 404
    assert _call(client, acme, "delete", f"{BASE}/checkout%2Fupsell/splits/nope").status_code == 404
    assert _call(client, acme, "put", f"{BASE}/missing/splits/production", body).status_code == 404
    # A split can create a new label.
    created = _call(client, acme, "put", f"{BASE}/checkout%2Fupsell/splits/experiment", body)
    assert created.status_code == 200 and created.json()["isSplit"] is True
