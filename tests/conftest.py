"""Test services and the three users every permission test uses.

alice owns the Acme organization, bob is a member of it, charlie owns his own organization and has
no access to Acme. With DATABASE_URL/REDIS_URL unset the suite starts the embedded servers (the
same code `make run` uses) and stops what it started at the end.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.test import Client

from config import embedded
from config.celery import app as celery_app
from tests.llm_server import LLMServer

_started: list[embedded.Outcome] = []
TEST_BROKER_URL = urlunsplit(urlsplit(settings.REDIS_URL)._replace(path="/15"))


def pytest_configure(config: pytest.Config) -> None:
    _started.extend(
        embedded.start_all(
            Path(settings.DATA_DIR),
            database=not os.environ.get("DATABASE_URL"),
            redis=not os.environ.get("REDIS_URL"),
        )
    )
    # A prefix of our own: the suite never reads or clears another run's cache entries.
    settings.CACHES["default"]["KEY_PREFIX"] = f"test-{uuid.uuid4().hex[:8]}"
    # Tasks the suite sends go to a broker database of their own, so a developer's running worker
    # (make run) never takes them; the test worker (test_celery.py) listens there.
    celery_app.conf.broker_url = TEST_BROKER_URL
    # Hashing is not under test; PBKDF2's deliberate slowness would dominate the suite.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def pytest_unconfigure(config: pytest.Config) -> None:
    embedded.stop_started(Path(settings.DATA_DIR), _started)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> None:
    """With --reuse-db the test database is the one an earlier run left, after its transactional tests
    (live servers) flushed every table, the built-in price rows migration traces/0002 loaded included:
    load them again when they are missing, so a second `make test` sees what the first did."""
    from traces.models import ModelPrice
    from traces.pricing_data import builtin_prices_load

    with django_db_blocker.unblock():
        builtin_prices_load(ModelPrice)


@dataclass
class Tenant:
    """One organization with one project and a key pair, as seen by the tests."""

    organization: object
    project: object
    public_key: str
    secret_key: str

    @property
    def basic_auth(self) -> str:
        token = base64.b64encode(f"{self.public_key}:{self.secret_key}".encode()).decode()
        return f"Basic {token}"


def _tenant(owner: object, org_name: str, project_name: str) -> Tenant:
    from projects.services import api_key_create, organization_create, project_create

    organization = organization_create(name=org_name, owner=owner)
    project = project_create(organization=organization, name=project_name, actor=owner)
    key, secret = api_key_create(project=project, note="tests", actor=owner)
    return Tenant(organization=organization, project=project, public_key=key.public_key, secret_key=secret)


PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def alice(db: None) -> object:
    from projects.services import user_create

    return user_create(email="alice@example.com", password=PASSWORD, name="Alice")


@pytest.fixture
def bob(db: None) -> object:
    from projects.services import user_create

    return user_create(email="bob@example.com", password=PASSWORD, name="Bob")


@pytest.fixture
def charlie(db: None) -> object:
    from projects.services import user_create

    return user_create(email="charlie@example.com", password=PASSWORD, name="Charlie")


@pytest.fixture
def acme(alice: object, bob: object) -> Tenant:
    """alice's organization; bob is a member."""
    from projects.models import Membership, Role

    tenant = _tenant(alice, "Acme", "Support bot")
    Membership.objects.create(organization=tenant.organization, user=bob, role=Role.MEMBER)
    return tenant


@pytest.fixture
def globex(charlie: object) -> Tenant:
    """charlie's organization: nothing to do with Acme."""
    return _tenant(charlie, "Globex", "Search")


def _client_for(user: object) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def alice_client(alice: object) -> Client:
    return _client_for(alice)


@pytest.fixture
def bob_client(bob: object) -> Client:
    return _client_for(bob)


@pytest.fixture
def charlie_client(charlie: object) -> Client:
    return _client_for(charlie)


@pytest.fixture
def llm_server() -> Iterator[LLMServer]:
    """A local OpenAI-compatible server (tests/llm_server.py), the suite's stand-in for paid LLM APIs."""
    with LLMServer() as server:
        yield server
