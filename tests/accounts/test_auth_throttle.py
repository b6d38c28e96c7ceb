from __future__ import annotations

import socket

from rest_framework.test import APIClient

from core import redis as coordination
from tests.accounts.conftest import obtain


def test_eleventh_attempt_in_a_minute_is_429_with_headers(member, api_client):
    statuses = [obtain(api_client, member.email, "wrong-password").status_code for _ in range(10)]
    assert statuses == [401] * 10  # limited before the credentials are even checked
    response = obtain(api_client, member.email)  # the right password no longer helps
    assert response.status_code == 429
    assert response["Content-Type"] == "application/problem+json"
    assert int(response["Retry-After"]) >= 1
    assert response["Cache-Control"] == "no-store"
    assert response["X-RateLimit-Limit"] == "10"
    assert response["X-RateLimit-Remaining"] == "0"
    assert response["RateLimit-Policy"] == '"auth";q=10;w=60'
    assert "access" not in response.content.decode()


def test_auth_headers_on_success_and_other_clients_keep_their_budget(member, api_client):
    first = obtain(api_client, member.email)
    assert first.status_code == 200
    assert first["X-RateLimit-Remaining"] == "9"
    for _ in range(10):
        obtain(api_client, member.email, "wrong")
    assert obtain(api_client, member.email).status_code == 429
    elsewhere = APIClient(REMOTE_ADDR="198.51.100.7")
    assert obtain(elsewhere, member.email).status_code == 200


def test_refresh_and_verify_share_the_auth_budget(member, api_client):
    for _ in range(10):
        api_client.post("/api/v1/auth/token/verify", {"token": "x"}, format="json")
    response = api_client.post("/api/v1/auth/token/refresh", {"refresh": "x"}, format="json")
    assert response.status_code == 429


def test_auth_fails_closed_with_503_when_redis_is_down(member, api_client, settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    settings.REDIS_URL = f"redis://127.0.0.1:{dead_port}/10"
    coordination.reset_clients()
    response = obtain(api_client, member.email)
    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    assert response["Retry-After"]
    assert response["Cache-Control"] == "no-store"
    assert "access" not in response.content.decode()
