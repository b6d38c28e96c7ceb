"""POST /admin/login/ is rate limited per client IP and per username (core.throttling)."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from core import redis as coordination

pytestmark = pytest.mark.django_db

URL = "/admin/login/"


def _attempt(ip: str, username: str, password: str = "wrong-password"):  # noqa: S107
    client = Client(REMOTE_ADDR=ip)
    return client.post(URL, {"username": username, "password": password, "next": "/admin/"})


def test_wrong_passwords_from_one_ip_hit_the_limit(admin):
    statuses = [_attempt("198.51.100.7", f"guess{i}@example.com").status_code for i in range(10)]
    assert statuses == [200] * 10  # the form again, with "enter a correct email"
    refused = _attempt("198.51.100.7", "guess-last@example.com")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    assert refused["Cache-Control"] == "no-store"
    # Even the right password is not checked while limited.
    assert _attempt("198.51.100.7", admin.email, "pass-Word-123").status_code == 429
    # Another address is unaffected.
    assert _attempt("198.51.100.8", "someone@example.com").status_code == 200


def test_one_username_from_many_ips_hits_the_limit(admin):
    statuses = [_attempt(f"203.0.113.{i}", admin.email).status_code for i in range(1, 6)]
    assert statuses == [200] * 5
    # The same account, any case or spacing, from a fresh address: refused.
    refused = _attempt("203.0.113.99", f"  {admin.email.upper()} ", "pass-Word-123")
    assert refused.status_code == 429
    assert "_auth_user_id" not in refused.client.session
    # Other accounts still sign in.
    other = User.objects.create_superuser(email="root2@example.com", password="Root-pass-123")
    ok = _attempt("203.0.113.100", other.email, "Root-pass-123")
    assert ok.status_code == 302


def test_the_form_itself_is_never_limited():
    client = Client(REMOTE_ADDR="198.51.100.9")
    assert {client.get(URL).status_code for _ in range(15)} == {200}


def test_a_correct_sign_in_within_the_limit_works(admin):
    response = _attempt("198.51.100.10", admin.email, "pass-Word-123")
    assert response.status_code == 302


def test_sign_in_fails_closed_when_redis_is_down(admin, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    coordination.reset_clients()
    response = _attempt("198.51.100.11", admin.email, "pass-Word-123")
    assert response.status_code == 503
    assert "Retry-After" in response
    assert "_auth_user_id" not in response.client.session
