"""Settings → LLM connections: keys encrypted at rest and never shown, test connection against a real local
OpenAI-compatible server (and a dead port, a wrong key, a timeout), roles and tenancy."""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.db import connection as db
from django.test import Client
from django.urls import reverse

from projects import llm
from projects.models import AuditEvent, LLMConnection, Membership, Role
from projects.services import llm_connection_create, user_create
from tests.llm_server import DEFAULT_API_KEY, LLMServer

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def _create(tenant: Any, actor: Any, *, base_url: str, api_key: str = DEFAULT_API_KEY, **extra: Any) -> LLMConnection:
    return llm_connection_create(
        project=tenant.project,
        name=extra.pop("name", "Local"),
        provider=extra.pop("provider", "openai-compatible"),
        base_url=base_url,
        api_key=api_key,
        model_names=["local-echo"],
        actor=actor,
        **extra,
    )


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again: nothing listens there


def test_admin_adds_a_connection_and_the_key_is_encrypted_at_rest(
    alice_client: Client, acme: Any, llm_server: LLMServer
) -> None:
    url = reverse("project-llm-connections", args=[acme.project.pk])
    response = alice_client.post(
        url,
        {
            "name": "Local vLLM",
            "provider": "openai-compatible",
            "base_url": llm_server.url + "/",
            "api_key": DEFAULT_API_KEY,
            "model_names": "local-echo, local-small, local-echo",
            "extra_headers": "X-Team: search\nX-Secret-Header: hunter2",
        },
    )
    assert response.status_code == 302
    saved = LLMConnection.objects.get(project=acme.project)
    assert saved.base_url == llm_server.url  # trailing slash dropped
    assert saved.model_names == ["local-echo", "local-small"]
    assert saved.api_key_hint == DEFAULT_API_KEY[-4:]
    assert saved.extra_header_names == ["X-Secret-Header", "X-Team"]

    # The row as PostgreSQL stores it holds neither the key nor the header values.
    with db.cursor() as cursor:
        cursor.execute("SELECT row_to_json(c)::text FROM projects_llmconnection c WHERE id = %s", [saved.pk])
        (raw_row,) = cursor.fetchone()
    assert DEFAULT_API_KEY not in raw_row and DEFAULT_API_KEY[:12] not in raw_row
    assert "hunter2" not in raw_row
    assert llm.connection_api_key(saved) == DEFAULT_API_KEY
    assert llm.connection_extra_headers(saved) == {"X-Team": "search", "X-Secret-Header": "hunter2"}

    # Never shown again: not on the list, not on the edit page, not in the audit log.
    page = alice_client.get(url).content.decode()
    assert "Local vLLM" in page and f"…{DEFAULT_API_KEY[-4:]}" in page
    edit = alice_client.get(reverse("project-llm-connection-edit", args=[acme.project.pk, saved.pk])).content.decode()
    for body in (page, edit):
        assert DEFAULT_API_KEY not in body and "hunter2" not in body
    audit = AuditEvent.objects.get(action="llm_connection.create")
    assert DEFAULT_API_KEY not in str(audit.after) and "hunter2" not in str(audit.after)


def test_test_connection_lists_the_models_of_the_local_server(
    alice_client: Client, acme: Any, alice: Any, llm_server: LLMServer
) -> None:
    saved = _create(acme, alice, base_url=llm_server.url, extra_headers={"X-Team": "search"})
    url = reverse("project-llm-connection-test", args=[acme.project.pk, saved.pk])
    body = alice_client.post(url, **HTMX).content.decode()
    assert "Connected: 2 models available." in body
    assert "local-echo" in body and "local-small" in body
    request = llm_server.requests[-1]
    assert request["path"] == "/v1/models"
    assert request["headers"]["authorization"] == f"Bearer {DEFAULT_API_KEY}"
    assert request["headers"]["x-team"] == "search"

    # Without htmx the whole page comes back with the result in the connection's row.
    page = alice_client.post(url).content.decode()
    assert "<html" in page and "Connected: 2 models available." in page


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("wrong key", "refused the API key (401 Unauthorized)"),
        ("dead port", "Could not reach http://127.0.0.1:"),
    ],
)
def test_test_connection_explains_failures(
    alice_client: Client, acme: Any, alice: Any, llm_server: LLMServer, case: str, expected: str
) -> None:
    if case == "wrong key":
        saved = _create(acme, alice, base_url=llm_server.url, api_key="sk-wrong-key-0000000000")
    else:
        saved = _create(acme, alice, base_url=f"http://127.0.0.1:{_dead_port()}/v1")
    body = alice_client.post(
        reverse("project-llm-connection-test", args=[acme.project.pk, saved.pk]), **HTMX
    ).content.decode()
    assert "Failed" in body and expected in body
    assert "Traceback" not in body


def test_a_slow_server_times_out_with_a_clear_message(acme: Any, alice: Any, llm_server: LLMServer) -> None:
    saved = _create(acme, alice, base_url=llm_server.url, extra_headers={"X-Test-Delay": "2"})
    check = llm.connection_check(saved, timeout=0.5)
    assert not check.ok
    assert check.message == f"Timed out: {urlsplit(llm_server.url).netloc} did not answer within 0.5 s."


def test_without_a_model_list_the_check_sends_a_one_token_completion(acme: Any, alice: Any) -> None:
    with LLMServer(serve_model_list=False) as server:
        saved = _create(acme, alice, base_url=server.url)
        check = llm.connection_check(saved)
        assert check.ok, check.message
        assert check.message == "Connected: “local-echo” answered a 1-token completion."
        assert server.requests[-1]["body"]["max_tokens"] == 1

        saved.model_names = []  # nothing to try: the 404 is reported
        check = llm.connection_check(saved)
        assert not check.ok and "404 Not Found: check the base URL" in check.message


def test_openai_connections_call_their_base_url_or_the_public_api(
    alice_client: Client, acme: Any, alice: Any, llm_server: LLMServer
) -> None:
    # provider="openai" with a base URL (a corporate proxy, a regional endpoint): everything goes there.
    saved = _create(acme, alice, base_url=llm_server.url, name="OpenAI via proxy", provider="openai")
    assert saved.provider == "openai"
    check = llm.connection_check(saved)
    assert check.ok, check.message
    assert check.message == "Connected: 2 models available." and check.models == ["local-echo", "local-small"]
    request = llm_server.requests[-1]
    assert request["path"] == "/v1/models" and request["headers"]["authorization"] == f"Bearer {DEFAULT_API_KEY}"
    pieces = list(
        llm.chat_stream(
            connection=saved, model="local-echo", messages=[{"role": "user", "content": "via OpenAI"}], parameters={}
        )
    )
    assert "".join(piece.text for piece in pieces) == "Echo: via OpenAI"
    assert llm_server.requests[-1]["path"] == "/v1/chat/completions"

    # No base URL: OpenAI's own API, resolved without any request being made (none may leave the suite).
    calls = len(llm_server.requests)
    public = _create(acme, alice, base_url="", name="OpenAI", provider="openai")
    assert llm.connection_endpoint(public) == llm.OPENAI_BASE_URL == "https://api.openai.com/v1"
    assert str(llm.client_for(public).base_url) == "https://api.openai.com/v1/"
    page = alice_client.get(reverse("project-llm-connections", args=[acme.project.pk])).content.decode()
    assert '<code class="small">https://api.openai.com/v1</code>' in page
    assert len(llm_server.requests) == calls


def test_azure_connections_call_the_deployment(acme: Any, alice: Any, llm_server: LLMServer) -> None:
    saved = llm_connection_create(
        project=acme.project,
        name="Azure",
        provider="azure",
        base_url=llm_server.url.removesuffix("/v1"),
        api_version="2024-10-21",
        api_key=DEFAULT_API_KEY,
        model_names=["local-echo"],
        actor=alice,
    )
    check = llm.connection_check(saved)
    assert check.ok, check.message
    request = llm_server.requests[-1]
    assert request["path"] == "/openai/deployments/local-echo/chat/completions?api-version=2024-10-21"
    assert request["headers"]["api-key"] == DEFAULT_API_KEY

    saved.model_names = ["missing-deployment"]
    check = llm.connection_check(saved)
    assert not check.ok and "check the model or deployment “missing-deployment”" in check.message


def test_a_changed_encryption_key_is_reported_not_crashed(
    acme: Any, alice: Any, llm_server: LLMServer, settings: Any
) -> None:
    saved = _create(acme, alice, base_url=llm_server.url)
    settings.SIGHTLINE_ENCRYPTION_KEY = "a-different-key"
    check = llm.connection_check(saved)
    assert not check.ok and "cannot be decrypted" in check.message


def test_edit_keeps_the_key_unless_a_new_one_is_entered(
    alice_client: Client, acme: Any, alice: Any, llm_server: LLMServer
) -> None:
    saved = _create(acme, alice, base_url=llm_server.url, extra_headers={"X-Team": "search"})
    url = reverse("project-llm-connection-edit", args=[acme.project.pk, saved.pk])
    form = {
        "name": "Renamed",
        "provider": "openai-compatible",
        "base_url": llm_server.url,
        "model_names": "local-small",
    }
    assert alice_client.post(url, form).status_code == 302
    saved.refresh_from_db()
    assert saved.name == "Renamed" and saved.model_names == ["local-small"]
    assert llm.connection_api_key(saved) == DEFAULT_API_KEY
    assert llm.connection_extra_headers(saved) == {"X-Team": "search"}

    assert (
        alice_client.post(url, {**form, "api_key": "sk-replaced-key-123456", "clear_extra_headers": "on"}).status_code
        == 302
    )
    saved.refresh_from_db()
    assert llm.connection_api_key(saved) == "sk-replaced-key-123456"
    assert saved.extra_headers_encrypted == "" and saved.extra_header_names == []
    assert AuditEvent.objects.filter(action="llm_connection.update").count() == 2


def test_form_errors_name_the_missing_field(alice_client: Client, acme: Any, alice: Any) -> None:
    url = reverse("project-llm-connections", args=[acme.project.pk])
    body = alice_client.post(
        url, {"name": "Ollama", "provider": "openai-compatible", "api_key": "x", "extra_headers": "no colon"}
    ).content.decode()
    assert "An OpenAI-compatible server needs its base URL" in body
    assert "Line 1 is not “Name: value”." in body
    body = alice_client.post(url, {"name": "Az", "provider": "azure", "api_key": "x", "base_url": "ftp://x"}).content
    assert "Enter a URL that starts with http:// or https://" in body.decode()
    assert "Azure OpenAI needs an API version" in body.decode()
    _create(acme, alice, base_url="http://localhost:1/v1", name="Taken")
    body = alice_client.post(
        url, {"name": "taken", "provider": "openai-compatible", "api_key": "x", "base_url": "http://vllm:8000/v1"}
    ).content.decode()
    assert "already has an LLM connection named" in body
    assert LLMConnection.objects.filter(project=acme.project).count() == 1


def test_roles_admins_edit_members_test_viewers_read(
    bob_client: Client, acme: Any, alice: Any, llm_server: LLMServer
) -> None:
    saved = _create(acme, alice, base_url=llm_server.url)
    pid = acme.project.pk
    list_url = reverse("project-llm-connections", args=[pid])
    test_url = reverse("project-llm-connection-test", args=[pid, saved.pk])

    # bob is a member: he reads and tests, but cannot add, edit or delete.
    page = bob_client.get(list_url).content.decode()
    assert "Local" in page and "Test connection" in page and "Add a connection" not in page
    assert "Connected" in bob_client.post(test_url, **HTMX).content.decode()
    assert bob_client.post(list_url, {"name": "x", "provider": "openai", "api_key": "k"}).status_code == 403
    assert bob_client.get(reverse("project-llm-connection-edit", args=[pid, saved.pk])).status_code == 403
    assert bob_client.post(reverse("project-llm-connection-delete", args=[pid, saved.pk])).status_code == 403

    viewer = user_create(email="vera@example.com", password="pw-vera-12345", name="Vera")
    Membership.objects.create(organization=acme.organization, user=viewer, role=Role.VIEWER)
    vera = Client()
    vera.force_login(viewer)
    page = vera.get(list_url).content.decode()
    assert "Local" in page and "Test connection" not in page
    assert vera.post(test_url, **HTMX).status_code == 403
    assert LLMConnection.objects.filter(pk=saved.pk).exists()


def test_admin_deletes_a_connection(alice_client: Client, acme: Any, alice: Any) -> None:
    saved = _create(acme, alice, base_url="http://localhost:1/v1")
    url = reverse("project-llm-connection-delete", args=[acme.project.pk, saved.pk])
    assert "Delete the connection Local" in alice_client.get(url).content.decode()  # the no-JS confirmation
    assert alice_client.post(url, **HTMX).content == b""
    assert not LLMConnection.objects.filter(pk=saved.pk).exists()
    assert AuditEvent.objects.filter(action="llm_connection.delete", target="Local").exists()


def test_other_organizations_get_404(charlie_client: Client, acme: Any, globex: Any, alice: Any) -> None:
    saved = _create(acme, alice, base_url="http://localhost:1/v1")
    for name, args in [
        ("project-llm-connections", [acme.project.pk]),
        ("project-llm-connection-test", [acme.project.pk, saved.pk]),
        ("project-llm-connection-edit", [acme.project.pk, saved.pk]),
        ("project-llm-connection-delete", [acme.project.pk, saved.pk]),
        # charlie's own project with acme's connection id: still 404, never someone else's row
        ("project-llm-connection-test", [globex.project.pk, saved.pk]),
        ("project-llm-connection-edit", [globex.project.pk, saved.pk]),
        ("project-llm-connection-delete", [globex.project.pk, saved.pk]),
    ]:
        assert charlie_client.post(reverse(name, args=args)).status_code == 404, name
    assert charlie_client.get(reverse("project-llm-connections", args=[globex.project.pk])).status_code == 200
    assert LLMConnection.objects.filter(pk=saved.pk).exists()
