"""Every JSON body is bounded and finite (core.parsers): hostile bodies are 400 problems."""

from __future__ import annotations

import json

import pytest

from posts.models import Post
from tasks.models import Task
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _problem(response, status: int = 400) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    return response.json()


@pytest.mark.parametrize(
    "path", ["/api/v1/auth/token", "/api/v1/auth/token/verify", "/api/v1/auth/token/refresh"]
)
def test_deeply_nested_body_is_a_400_anonymously(api_client, path):
    # 2 KB of brackets: the stdlib decoder hit its recursion limit here and answered 500.
    body = '{"email":"a@b.cc","password":"x","token":"t","z":' + _nested(1000) + "}"
    response = api_client.generic("POST", path, body, content_type="application/json")
    assert _problem(response)["code"] == "json_too_complex"


def test_nesting_just_past_the_limit_is_a_400(auth_client, settings):
    body = json.dumps({"title": "t", "z": json.loads(_nested(settings.API_JSON_MAX_DEPTH))})
    response = auth_client.generic("POST", "/api/v1/tasks", body, content_type="application/json")
    assert _problem(response)["code"] == "json_too_complex"
    assert not Task.objects.exists()


def test_too_many_members_is_a_400(auth_client, settings):
    body = json.dumps({"title": "t", "z": [0] * (settings.API_JSON_MAX_MEMBERS + 1)})
    response = auth_client.generic("POST", "/api/v1/tasks", body, content_type="application/json")
    assert _problem(response)["code"] == "json_too_complex"
    assert not Task.objects.exists()


def test_ordinary_nesting_still_reaches_the_serializer(auth_client):
    body = json.dumps({"title": "t", "z": json.loads(_nested(5))})
    response = auth_client.generic("POST", "/api/v1/tasks", body, content_type="application/json")
    assert _problem(response)["errors"] == {"z": ["This field is unknown or may not be changed."]}


@pytest.mark.parametrize(
    "raw", ["1e999", "-1e999", "NaN", "Infinity", "-Infinity", "123456789012345678901234"]
)
def test_non_finite_and_huge_numbers_are_rejected(raw):
    editor = UserFactory(role="editor")
    from tests.factories import api_client_for

    client = api_client_for(editor)
    body = '{"title": ' + raw + "}"
    response = client.generic("POST", "/api/v2/posts", body, content_type="application/json")
    assert _problem(response)["code"] == "parse_error"
    assert not Post.objects.exists()


def test_non_finite_task_title_is_rejected(auth_client):
    response = auth_client.generic(
        "POST", "/api/v1/tasks", '{"title": 1e999}', content_type="application/json"
    )
    assert _problem(response)["code"] == "parse_error"
    assert not Task.objects.exists()


def test_invalid_utf8_is_a_400(auth_client):
    response = auth_client.generic(
        "POST", "/api/v1/tasks", b'{"title": "\xff\xfe"}', content_type="application/json"
    )
    assert _problem(response)["code"] == "parse_error"
