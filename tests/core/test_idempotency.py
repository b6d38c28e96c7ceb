"""Idempotency-Key on the create endpoints (core.idempotency): a retried create runs once."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient, APIRequestFactory

from accounts.models import User
from core import redis as coordination
from core.idempotency import (
    IDEMPOTENCY_TTL_SECONDS,
    idempotency_redis_key,
    request_fingerprint,
)
from posts.models import Post
from tasks.models import Task
from tests.factories import UserFactory, api_client_for

pytestmark = pytest.mark.django_db

KEY = "8e03978e-40d5-43e8-bc93-6894a57f9324"


def _client(user) -> APIClient:
    return api_client_for(user)


def _post(client, path: str, body: dict, key: str | None = KEY):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(path, body, format="json", **headers)


def _data_without_timestamp(response) -> dict:
    return json.loads(response.content)["data"]


# Each create endpoint, its body, and how to count what it created.
CREATES = {
    "tasks": ("member", "/api/v1/tasks", {"title": "Pay rent"}, lambda: Task.objects.count()),
    "posts": ("editor", "/api/v2/posts", {"title": "Hello"}, lambda: Post.objects.count()),
    "users": (
        "admin",
        "/api/v1/users",
        {"email": "new@example.com", "password": "Long-enough-pass-1"},
        lambda: User.objects.filter(email="new@example.com").count(),
    ),
}


@pytest.mark.parametrize("endpoint", sorted(CREATES))
def test_a_retry_with_the_same_key_replays_the_first_answer_and_creates_once(endpoint):
    role, path, body, count = CREATES[endpoint]
    client = _client(UserFactory(role=role))
    first = _post(client, path, body)
    assert first.status_code == 201, first.content
    assert first["Location"].endswith(f"/{first.json()['data']['id']}")
    again = _post(client, path, body)
    assert again.status_code == 201
    assert again.content == first.content  # byte for byte, meta.timestamp included
    assert again["Location"] == first["Location"]
    assert again["Content-Type"] == first["Content-Type"]
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert count() == 1


def test_the_same_key_with_another_body_is_a_422_and_creates_nothing(auth_client):
    assert _post(auth_client, "/api/v1/tasks", {"title": "one"}).status_code == 201
    response = _post(auth_client, "/api/v1/tasks", {"title": "two"})
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "idempotency_key_mismatch"
    assert list(Task.objects.values_list("title", flat=True)) == ["one"]


def test_the_same_key_on_another_endpoint_is_a_422():
    editor = _client(UserFactory(role="editor"))
    assert _post(editor, "/api/v1/tasks", {"title": "Hello"}).status_code == 201
    response = _post(editor, "/api/v2/posts", {"title": "Hello"})
    assert response.status_code == 422
    assert not Post.objects.exists()


def test_a_request_while_the_first_still_runs_is_a_409(auth_client):
    body = {"title": "slow"}
    # The first request holds the key in flight (as core.idempotency writes it).
    request = APIRequestFactory().post("/api/v1/tasks", body, format="json")
    from rest_framework.parsers import JSONParser
    from rest_framework.request import Request

    fingerprint = request_fingerprint(Request(request, parsers=[JSONParser()]))
    coordination.value_set(
        idempotency_redis_key(user_id=auth_client.user.pk, key=KEY),
        json.dumps({"state": "in_flight", "fingerprint": fingerprint}),
        ttl_seconds=60,
    )
    response = _post(auth_client, "/api/v1/tasks", body)
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_in_use"
    assert response["Retry-After"] == "1"
    assert not Task.objects.exists()


def test_keys_are_scoped_per_user():
    alice, bob = _client(UserFactory()), _client(UserFactory())
    assert _post(alice, "/api/v1/tasks", {"title": "mine"}).status_code == 201
    theirs = _post(bob, "/api/v1/tasks", {"title": "mine"})
    assert theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs
    assert Task.objects.filter(owner=bob.user).count() == 1


def test_a_failed_request_releases_the_key(auth_client):
    bad = _post(auth_client, "/api/v1/tasks", {"title": ""})
    assert bad.status_code == 400
    fixed = _post(auth_client, "/api/v1/tasks", {"title": "fixed"})
    assert fixed.status_code == 201
    assert "Idempotent-Replayed" not in fixed


def test_the_record_is_kept_24_hours(auth_client):
    _post(auth_client, "/api/v1/tasks", {"title": "kept"})
    redis_key = idempotency_redis_key(user_id=auth_client.user.pk, key=KEY)
    ttl = coordination.call(lambda r: r.ttl(redis_key))
    assert IDEMPOTENCY_TTL_SECONDS - 5 <= ttl <= IDEMPOTENCY_TTL_SECONDS


def test_a_quoted_key_is_the_same_key(auth_client):
    assert _post(auth_client, "/api/v1/tasks", {"title": "q"}).status_code == 201
    again = _post(auth_client, "/api/v1/tasks", {"title": "q"}, key=f'"{KEY}"')
    assert again["Idempotent-Replayed"] == "true"
    assert Task.objects.count() == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", 'a"b', "tab\there"])
def test_a_malformed_key_is_a_400(auth_client, key):
    response = _post(auth_client, "/api/v1/tasks", {"title": "t"}, key=key)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_idempotency_key"
    assert not Task.objects.exists()


def test_without_the_header_every_post_creates(auth_client):
    for _ in range(2):
        assert _post(auth_client, "/api/v1/tasks", {"title": "t"}, key=None).status_code == 201
    assert Task.objects.count() == 2


def test_redis_down_with_a_key_fails_closed_and_without_a_key_still_creates(auth_client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    coordination.reset_clients()
    response = _post(auth_client, "/api/v1/tasks", {"title": "t"})
    assert response.status_code == 503
    assert response.json()["code"] == "idempotency_unavailable"
    assert "Retry-After" in response
    assert not Task.objects.exists()
    assert _post(auth_client, "/api/v1/tasks", {"title": "t"}, key=None).status_code == 201


def test_the_schema_documents_the_header_on_the_create_operations(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    paths = json.loads(schema.content)["paths"]
    for path in ("/api/v1/tasks", "/api/v2/posts", "/api/v1/users"):
        operation = paths[path]["post"]
        names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "header"]
        assert names == ["Idempotency-Key"], path
        assert {"409", "422", "503"} <= set(operation["responses"]), path
    assert not any(
        p.get("name") == "Idempotency-Key"
        for p in paths["/api/v1/auth/token"]["post"].get("parameters", [])
    )
