"""Browser tests: Playwright (sync API) driving the system's Chromium against pytest-django's live_server.

No browser is downloaded: `/usr/bin/chromium` (Debian's package) is launched directly. When it is
missing the tests fail in CI (`CI` set to true, as CI services set it) and are skipped on a developer's
machine, so a CI image without a browser can never pass by skipping them. Every request the page makes
is recorded, so a journey can prove that nothing is fetched from outside (no CDN).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

# Playwright's sync API runs an event loop in this thread; Django would otherwise refuse ORM calls.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = os.environ.get("SIGHTLINE_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


def in_ci() -> bool:
    """Whether this run is CI's: `CI` is true there (GitHub Actions, GitLab, .ci/run's hosts); unset locally."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def require_chromium() -> None:
    """A missing browser skips the browser tests locally and fails them in CI."""
    if os.path.exists(CHROMIUM) or shutil.which(CHROMIUM):
        return
    message = f"no Chromium at {CHROMIUM} (apt-get install chromium, or set SIGHTLINE_E2E_CHROMIUM)"
    if in_ci():
        pytest.fail(f"{message}; CI must run the browser tests, not skip them", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def e2e_browser() -> Iterator[Any]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def e2e_settings(settings: Any) -> Any:
    """Plain static storage (no collectstatic in tests) and the live server's address in links."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    return settings


@pytest.fixture
def e2e_page(e2e_browser: Any, live_server: Any, transactional_db: None, e2e_settings: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies, no storage) on the live server. `page.requested_hosts` lists
    the host of every request it made, `page.js_errors` every uncaught script error."""
    e2e_settings.SITE_URL = live_server.url
    context = e2e_browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 860})
    context.set_default_timeout(10_000)
    page = context.new_page()
    hosts: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: hosts.append(urlsplit(request.url).hostname or ""))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.requested_hosts = hosts
    page.js_errors = errors
    yield page
    context.close()


def assert_only_local_requests(page: Any) -> None:
    """No CDN, no telemetry: every request stayed on this machine (and no script failed)."""
    assert not page.js_errors, page.js_errors
    assert page.requested_hosts, "the page made no requests at all"
    outside = sorted(set(page.requested_hosts) - LOCAL_HOSTS)
    assert not outside, f"requests left the machine: {outside}"


def sign_in_as(page: Any, user: Any, base_url: str) -> None:
    """Signs in by putting a real session cookie in the browser (the sign-in form has its own journey)."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": base_url}])
