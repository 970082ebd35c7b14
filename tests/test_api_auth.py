"""API authentication with project key pairs, and the key management API's tenancy."""

from __future__ import annotations

import base64

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from projects.models import ApiKey
from projects.services import api_key_create, api_key_revoke
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db


def _basic(public: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{public}:{secret}".encode()).decode()


def _projects(client: Client, auth: str | None) -> tuple[int, dict]:
    headers = {"HTTP_AUTHORIZATION": auth} if auth is not None else {}
    response = client.get("/api/public/projects", **headers)
    return response.status_code, response.json()


def test_valid_key_reads_its_own_project_in_langfuse_shape(client: Client, acme: Tenant) -> None:
    status, body = _projects(client, acme.basic_auth)
    assert status == 200
    assert body == {
        "data": [
            {
                "id": str(acme.project.pk),
                "name": "Support bot",
                "organization": {"id": str(acme.organization.pk), "name": "Acme"},
                "metadata": {},
            }
        ]
    }


@pytest.mark.parametrize(
    ("auth", "expected_error"),
    [
        (None, "unauthorized"),
        ("Bearer abc", "unauthorized"),
        ("Basic !!!not-base64", "unauthorized"),
        ("Basic " + base64.b64encode(b"no-colon").decode(), "unauthorized"),
        (_basic("pk-sl-unknown", "sk-sl-whatever"), "unauthorized"),
    ],
)
def test_missing_or_malformed_credentials_get_401_json(
    client: Client, acme: Tenant, auth: str | None, expected_error: str
) -> None:
    status, body = _projects(client, auth)
    assert status == 401
    assert body["error"] == expected_error
    assert body["message"]


def test_wrong_secret_gets_401(client: Client, acme: Tenant) -> None:
    status, body = _projects(client, _basic(acme.public_key, acme.secret_key + "x"))
    assert status == 401
    assert "Invalid API key" in body["message"]


def test_revoked_key_gets_401_at_once_even_when_cached(
    client: Client, acme: Tenant, alice: object, django_capture_on_commit_callbacks: object
) -> None:
    assert _projects(client, acme.basic_auth)[0] == 200  # now cached
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        api_key_revoke(api_key=ApiKey.objects.get(public_key=acme.public_key), actor=alice)
    status, body = _projects(client, acme.basic_auth)
    assert status == 401
    assert body["error"] == "unauthorized"


def test_key_lookup_costs_one_indexed_query_then_none(client: Client, acme: Tenant) -> None:
    cache.delete(f"apikey:{acme.public_key}")
    with CaptureQueriesContext(connection) as cold:
        assert _projects(client, acme.basic_auth)[0] == 200
    key_queries = [q for q in cold.captured_queries if "projects_apikey" in q["sql"] and "SELECT" in q["sql"]]
    assert len(key_queries) == 1
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + key_queries[0]["sql"])
        plan = " ".join(row[0] for row in cursor.fetchall())
    assert "Index Scan" in plan and "public_key" in plan
    with CaptureQueriesContext(connection) as warm:
        assert _projects(client, acme.basic_auth)[0] == 200
    assert not [q for q in warm.captured_queries if "projects_apikey" in q["sql"] and "SELECT" in q["sql"]]


def test_last_used_is_recorded(client: Client, acme: Tenant) -> None:
    assert ApiKey.objects.get(public_key=acme.public_key).last_used_at is None
    _projects(client, acme.basic_auth)
    assert ApiKey.objects.get(public_key=acme.public_key).last_used_at is not None


def test_secret_is_stored_only_as_hash(acme: Tenant) -> None:
    key = ApiKey.objects.get(public_key=acme.public_key)
    assert acme.secret_key not in (key.secret_hash, key.secret_hint, key.public_key)
    assert acme.secret_key.startswith("sk-sl-") and key.public_key.startswith("pk-sl-")
    assert key.secret_hint == acme.secret_key[-4:]


def test_each_key_sees_only_its_project(client: Client, acme: Tenant, globex: Tenant) -> None:
    assert _projects(client, globex.basic_auth)[1]["data"][0]["id"] == str(globex.project.pk)
    assert _projects(client, acme.basic_auth)[1]["data"][0]["id"] == str(acme.project.pk)


# --- Key management API (signed-in users) ---


def test_owner_creates_lists_and_revokes_keys(
    alice_client: Client, acme: Tenant, django_capture_on_commit_callbacks: object
) -> None:
    url = f"/api/projects/{acme.project.pk}/keys"
    created = alice_client.post(url, {"note": "ci"}, content_type="application/json")
    assert created.status_code == 201
    secret = created.json()["secret_key"]
    listed = alice_client.get(url).json()["data"]
    assert {k["public_key"] for k in listed} >= {created.json()["public_key"]}
    assert all("secret_key" not in k for k in listed)
    client = Client()
    assert _projects(client, _basic(created.json()["public_key"], secret))[0] == 200
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        revoked = alice_client.delete(f"{url}/{created.json()['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert _projects(client, _basic(created.json()["public_key"], secret))[0] == 401


def test_outsider_gets_404_on_another_organizations_project(charlie_client: Client, acme: Tenant) -> None:
    key_id = ApiKey.objects.get(public_key=acme.public_key).pk
    url = f"/api/projects/{acme.project.pk}/keys"
    for response in (
        charlie_client.get(url),
        charlie_client.post(url, {"note": "x"}, content_type="application/json"),
        charlie_client.delete(f"{url}/{key_id}"),
    ):
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"
    assert ApiKey.objects.get(pk=key_id).revoked_at is None


def test_unknown_project_and_foreign_key_id_answer_404(alice_client: Client, acme: Tenant, globex: Tenant) -> None:
    assert alice_client.get("/api/projects/999999/keys").status_code == 404
    globex_key = ApiKey.objects.get(public_key=globex.public_key)
    # A key id from another project through alice's own project: still 404, and nothing revoked.
    assert alice_client.delete(f"/api/projects/{acme.project.pk}/keys/{globex_key.pk}").status_code == 404
    globex_key.refresh_from_db()
    assert globex_key.revoked_at is None


def test_member_cannot_manage_keys(bob_client: Client, acme: Tenant) -> None:
    response = bob_client.post(f"/api/projects/{acme.project.pk}/keys", {}, content_type="application/json")
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


def test_anonymous_management_call_is_refused(client: Client, acme: Tenant) -> None:
    response = client.get(f"/api/projects/{acme.project.pk}/keys")
    assert response.status_code in (401, 403)
    assert response.json()["error"] in ("unauthorized", "forbidden")


def test_bad_input_names_the_field(alice_client: Client, acme: Tenant) -> None:
    response = alice_client.post(
        f"/api/projects/{acme.project.pk}/keys", {"note": "x" * 500}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["field"] == "note"


def test_revoke_is_audit_logged(alice: object, acme: Tenant) -> None:
    from projects.models import AuditEvent

    key, _ = api_key_create(project=acme.project, note="temp", actor=alice)
    api_key_revoke(api_key=key, actor=alice)
    assert AuditEvent.objects.filter(action="api_key.revoke", target=key.public_key, actor=alice).exists()
