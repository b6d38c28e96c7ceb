"""Every page is served with a Content-Security-Policy, and JSON with one that allows nothing."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User

pytestmark = pytest.mark.django_db

HEADER = "Content-Security-Policy"


def _directives(value: str) -> dict[str, list[str]]:
    parts = [part.strip().split() for part in value.split(";") if part.strip()]
    return {part[0]: part[1:] for part in parts}


@pytest.fixture
def staff_browser() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser(email="root@example.com", password="x"))
    return client


@pytest.mark.parametrize(
    "path", ["/admin/", "/admin/login/", "/admin/accounts/user/", "/ops/", "/api/docs/"]
)
def test_pages_forbid_inline_and_foreign_code(staff_browser, path):
    browser = Client() if path == "/admin/login/" else staff_browser
    response = browser.get(path)
    assert response.status_code == 200
    policy = _directives(response[HEADER])
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in response[HEADER] and "'unsafe-eval'" not in response[HEADER]


def test_docs_page_has_no_inline_script_or_style(staff_browser):
    page = staff_browser.get("/api/docs/").content.decode()
    assert "<style" not in page
    assert "<script>" not in page  # every script has a src
    script = staff_browser.get("/api/docs/?script=")
    assert script.status_code == 200
    assert "SwaggerUIBundle" in script.content.decode()


def test_api_json_gets_a_policy_that_allows_nothing(api_client):
    response = api_client.get("/api/v2/posts")
    assert response.status_code == 200
    assert response[HEADER] == "default-src 'none'; frame-ancestors 'none'"
    problem = api_client.get("/api/v1/nope")
    assert problem[HEADER] == "default-src 'none'; frame-ancestors 'none'"
