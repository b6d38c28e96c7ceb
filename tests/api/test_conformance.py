"""A real response from every list and detail endpoint matches its documented schema (status,
content type and body), so the schema cannot drift from the code. Generated from the schema:
a new GET operation without a row in READS fails."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from schemathesis.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api import openapi
from tests.api.conftest import World

CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]
ALL_INCLUDES = {"include": "author,category,tags"}

# (operation, role, path parameters from the world, query): each must answer 200 with data.
READS: list[tuple[str, str, Callable[[World], dict[str, Any]], dict[str, str]]] = [
    ("GET /api/stats", "anonymous", lambda w: {}, {}),
    ("GET /api/v1/posts", "anonymous", lambda w: {}, {"page_size": "5"}),
    ("GET /api/v1/posts/{id}", "anonymous", lambda w: {"id": w.published_post.pk}, {}),
    ("GET /api/v1/posts/{id}", "editor", lambda w: {"id": w.draft_post.pk}, {}),
    (
        "GET /api/v1/posts/by-slug/{slug}",
        "anonymous",
        lambda w: {"slug": w.published_post.slug},
        {},
    ),
    (
        "GET /api/v1/users/{user_id}/posts",
        "anonymous",
        lambda w: {"user_id": w.published_post.author_id},
        {},
    ),
    ("GET /api/v1/tasks", "member", lambda w: {}, {}),
    ("GET /api/v1/tasks", "admin", lambda w: {}, {"status": "pending", "page": "1"}),
    ("GET /api/v1/tasks/{id}", "member", lambda w: {"id": w.tasks["member"]}, {}),
    ("GET /api/v1/tasks/statistics", "member", lambda w: {}, {}),
    ("GET /api/v1/tasks/statistics", "admin", lambda w: {}, {"scope": "global"}),
    ("GET /api/v1/users", "admin", lambda w: {}, {"page_size": "2"}),
    ("GET /api/v1/users/{id}", "admin", lambda w: {"id": w.other_user.pk}, {}),
    ("GET /api/v1/users/{id}", "member", lambda w: {"id": w.personas["member"].pk}, {}),
    ("GET /api/v1/users/me", "member", lambda w: {}, {}),
    ("GET /api/v2/posts", "anonymous", lambda w: {}, {"limit": "1"}),
    ("GET /api/v2/posts", "anonymous", lambda w: {}, ALL_INCLUDES),
    ("GET /api/v2/posts", "editor", lambda w: {}, {"fields": "id,title,status,view_count"}),
    ("GET /api/v2/posts/{id}", "anonymous", lambda w: {"id": w.published_post.pk}, ALL_INCLUDES),
    ("GET /api/v2/posts/{id}", "editor", lambda w: {"id": w.draft_post.pk}, ALL_INCLUDES),
    # Sub-field selection: embedded objects carry only the selected sub-fields.
    (
        "GET /api/v2/posts/{id}",
        "anonymous",
        lambda w: {"id": w.published_post.pk},
        {"fields": "id,author.name,category.slug,tags.id"},
    ),
]


def test_every_read_operation_has_a_row():
    reads = {label for label in openapi.OPERATIONS if label.startswith("GET ")}
    assert reads == {row[0] for row in READS}


@pytest.mark.parametrize(
    ("label", "role", "path_parameters", "query"),
    READS,
    ids=[f"{row[1]}-{row[0]}-{'&'.join(row[3])}" for row in READS],
)
def test_a_real_response_matches_the_documented_schema(
    wsgi_app, world, label, role, path_parameters, query
):
    openapi.SCHEMA.app = wsgi_app
    persona = world.personas[role]
    case = openapi.operation(label).Case(path_parameters=path_parameters(world), query=query)
    response = case.call(headers=persona.headers)
    assert response.status_code == 200, response.text
    case.validate_response(response, checks=CHECKS, headers=persona.headers)
    body = response.json()
    if label != "GET /api/stats":
        assert set(body) == {"data", "meta"}
        assert body["data"], "an empty page would validate nothing"


def test_a_drifted_body_is_caught(wsgi_app, world):
    """The check is not vacuous: a body missing a documented field fails it."""
    from schemathesis.core.failures import FailureGroup

    openapi.SCHEMA.app = wsgi_app
    persona = world.personas["member"]
    case = openapi.operation("GET /api/v1/tasks/{id}").Case(
        path_parameters={"id": world.tasks["member"]}
    )
    response = case.call(headers=persona.headers)
    body = response.json()
    del body["data"]["title"]
    response.content = json.dumps(body).encode()
    with pytest.raises(FailureGroup, match='"title" is a required property'):
        case.validate_response(response, checks=CHECKS, headers=persona.headers)
