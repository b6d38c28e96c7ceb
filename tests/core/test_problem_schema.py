"""One ProblemOut component (core.serializers) documents every problem+json response of the
accounts, stats and posts APIs, and matches the bodies core.errors really sends."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

from core.serializers import ProblemOut

PROBLEM_REF = "#/components/schemas/ProblemOut"


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def _error_schemas(schema: dict, prefix: str) -> list[tuple[str, str, dict]]:
    found = []
    for path, operations in schema["paths"].items():
        if not path.startswith(prefix):
            continue
        for method, operation in operations.items():
            for code, response in operation.get("responses", {}).items():
                if not code.startswith(("4", "5")):
                    continue
                for media in response.get("content", {}).values():
                    found.append((f"{method.upper()} {path} {code}", code, media["schema"]))
    return found


@pytest.mark.parametrize(
    "prefix",
    [
        "/api/v1/posts",
        "/api/v2/posts",
        "/api/stats",
        "/api/v1/auth",
        "/api/v1/tasks",
        "/api/v1/users",
    ],
)
def test_problem_responses_reference_the_one_shared_component(schema, prefix):
    errors = _error_schemas(schema, prefix)
    assert errors, f"no documented error responses under {prefix}"
    for where, _code, media_schema in errors:
        assert media_schema == {"$ref": PROBLEM_REF}, where


def test_there_is_one_problem_component(schema):
    components = schema["components"]["schemas"]
    assert "ProblemOut" in components
    assert not [name for name in components if "Problem" in name and name != "ProblemOut"]


@pytest.mark.django_db
def test_a_real_problem_body_fits_the_schema(api_client):
    response = api_client.get("/api/v2/posts/does-not-exist")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert set(body) <= set(ProblemOut().fields)
    assert {"type", "title", "status", "detail"} <= set(body)
