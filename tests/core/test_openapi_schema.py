"""The generated OpenAPI schema documents every operation the same way (core.schema): the
envelope, the problem responses, parameter bounds, strict bodies, and words for consumers."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from drf_spectacular.generators import SchemaGenerator

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemOut"}}}
# Operations whose success body is not enveloped (stored bytes, see stats.views).
UNENVELOPED = {"GET /api/stats"}
# Words a consumer cannot use: test modules, source files, private helpers, maintainer notes.
LEAKS = re.compile(r"tests/|test_\w+|\.py\b|\b_[a-z]\w*|\bTODO\b|docstring|\bmixin\b", re.I)


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema: dict) -> Iterator[tuple[str, dict]]:
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def component(schema: dict, ref: dict) -> dict:
    return schema["components"]["schemas"][ref["$ref"].rsplit("/", 1)[-1]]


def test_every_operation_has_a_summary_and_a_description_for_consumers(schema):
    missing, leaking = [], []
    for where, operation in operations(schema):
        summary = operation.get("summary", "")
        description = operation.get("description", "")
        if not summary.strip() or not description.strip():
            missing.append(where)
        if LEAKS.search(summary) or LEAKS.search(description):
            leaking.append(f"{where}: {LEAKS.search(summary + ' ' + description).group(0)}")
    assert not missing, f"no summary or no description: {missing}"
    assert not leaking, f"internal wording in the docs: {leaking}"


def test_the_leak_pattern_catches_what_used_to_leak():
    leaked = (
        "Decide the rate limit before permissions. Every DRF view in the project mixes this "
        "in; tests/core/test_views_use_limiter.py checks."
    )
    assert LEAKS.search(leaked)
    assert LEAKS.search("see _list_query_hash")
    assert not LEAKS.search("Filter by `status` or `due_before`; `page_size` 1-100.")


def test_every_success_body_is_documented_inside_the_envelope(schema):
    seen_kinds = set()
    for where, operation in operations(schema):
        for status, response in operation["responses"].items():
            media = response.get("content", {}).get("application/json")
            if not status.startswith("2") or media is None or where in UNENVELOPED:
                continue
            envelope = component(schema, media["schema"])
            assert envelope["required"] == ["data", "meta"], where
            data, meta = envelope["properties"]["data"], envelope["properties"]["meta"]
            meta_name = meta["$ref"].rsplit("/", 1)[-1]
            if data.get("type") == "array":
                params = {p["name"] for p in operation.get("parameters", [])}
                expected = "CursorMetaOut" if "cursor" in params else "PageMetaOut"
                assert meta_name == expected, where
            else:
                assert meta_name == "EnvelopeMetaOut", where
            seen_kinds.add(meta_name)
    assert seen_kinds == {"EnvelopeMetaOut", "PageMetaOut", "CursorMetaOut"}


def test_every_error_response_is_a_problem_with_the_shared_schema(schema):
    for where, operation in operations(schema):
        errors = {s: r for s, r in operation["responses"].items() if s[0] in "45"}
        assert "429" in errors, f"{where}: every endpoint is rate limited"
        for status, response in errors.items():
            assert response["content"] == PROBLEM, f"{where} {status}"
            assert response["description"], f"{where} {status}"
        if "429" in errors:
            assert "Retry-After" in errors["429"]["headers"], where


def test_problem_statuses_follow_what_the_operation_can_do(schema):
    for where, operation in operations(schema):
        statuses = set(operation["responses"])
        locations = {p["in"] for p in operation.get("parameters", [])}
        if "path" in locations:
            assert "404" in statuses, where
        if "query" in locations:
            assert "400" in statuses, where
        if "requestBody" in operation:
            assert {"400", "413", "415"} <= statuses, where
        if operation.get("security") and {} not in operation["security"]:
            assert "401" in statuses, where  # authentication required


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("GET /api/v1/tasks", {"400", "401", "404", "429"}),
        ("GET /api/v1/tasks/statistics", {"400", "401", "403", "429"}),
        ("POST /api/v1/auth/token", {"400", "401", "413", "415", "429", "503"}),
        ("GET /api/v2/posts/{id}", {"400", "401", "404", "429"}),
        ("PATCH /api/v2/posts/{id}", {"400", "401", "403", "404", "409", "413", "415", "429"}),
        ("GET /api/v1/users", {"400", "401", "403", "404", "429"}),
        ("DELETE /api/v1/users/me", {"401", "409", "429"}),
    ],
)
def test_problem_statuses_of_representative_operations(schema, where, expected):
    operation = dict(operations(schema))[where]
    assert {s for s in operation["responses"] if s[0] in "45"} == expected


def test_pagination_parameters_declare_their_bounds(schema):
    bounded = 0
    for where, operation in operations(schema):
        for parameter in operation.get("parameters", []):
            bounds = parameter.get("schema", {})
            if parameter["name"] in ("page_size", "limit"):
                assert (bounds["minimum"], bounds["maximum"]) == (1, 100), where
                bounded += 1
            elif parameter["name"] == "page":
                assert bounds["minimum"] == 1, where
            elif bounds.get("type") == "integer" and parameter["in"] == "query":
                assert bounds["maximum"] == 999_999_999_999_999_999, where
    assert bounded >= 4


@pytest.mark.parametrize(
    "name",
    [
        "TokenObtainInRequest",
        "UserCreateInRequest",
        "PatchedUserSelfUpdateInRequest",
        "TaskInRequest",
        "PatchedTaskInRequest",
    ],
)
def test_strict_bodies_forbid_additional_properties(schema, name):
    assert schema["components"]["schemas"][name]["additionalProperties"] is False


@pytest.mark.django_db
@pytest.mark.parametrize(("value", "status"), [("0", 400), ("1", 200), ("100", 200), ("101", 400)])
def test_documented_page_size_bounds_are_what_the_server_enforces(auth_client, value, status):
    assert auth_client.get(f"/api/v1/tasks?page_size={value}").status_code == status
    assert auth_client.get(f"/api/v2/posts?limit={value}").status_code == status


@pytest.mark.django_db
def test_a_strict_body_really_rejects_an_unknown_key(auth_client):
    response = auth_client.post("/api/v1/tasks", {"title": "t", "owner_id": 9}, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert set(response.json()["errors"]) == {"owner_id"}


def _parameter(schema: dict, where: str, name: str) -> dict:
    operation = dict(operations(schema))[where]
    return next(p for p in operation["parameters"] if p["name"] == name)["schema"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "include"),
    [("id,author.name", ""), ("id,title", "tags"), ("status", ""), ("id,tit", ""), ("", "x")],
)
def test_selection_patterns_accept_what_the_server_accepts(schema, api_client, fields, include):
    fields_pattern = _parameter(schema, "GET /api/v2/posts", "fields")["pattern"]
    include_pattern = _parameter(schema, "GET /api/v2/posts", "include")["pattern"]
    documented = (not fields or re.match(fields_pattern, fields)) and (
        not include or re.match(include_pattern, include)
    )
    response = api_client.get("/api/v2/posts", {"fields": fields, "include": include})
    assert (response.status_code == 200) == bool(documented), response.content


def test_request_integers_carry_the_parser_bounds(schema):
    tag_ids = schema["components"]["schemas"]["PostCreateInRequest"]["properties"]["tag_ids"]
    assert (tag_ids["items"]["minimum"], tag_ids["items"]["maximum"]) == (-(2**63), 2**63 - 1)


def test_profile_fields_publish_their_formats(schema):
    profile = schema["components"]["schemas"]["PatchedUserSelfUpdateInRequest"]["properties"]
    # oneOf: the pattern, or blank (clears the value); exactly one matches any value.
    locale, blank = profile["locale"]["oneOf"]
    assert blank["maxLength"] == 0
    assert re.match(locale["pattern"], "de-AT")
    assert not re.match(locale["pattern"], "german!")
    assert not re.match(locale["pattern"], "")
    assert re.match(profile["phone"]["oneOf"][0]["pattern"], "+43 1 234")
    zones = schema["components"]["schemas"]["TimezoneEnum"]["enum"]
    assert "Europe/Vienna" in zones
    assert len(zones) > 300


@pytest.mark.django_db
def test_free_strings_document_and_refuse_nul(schema, auth_client):
    title = schema["components"]["schemas"]["TaskInRequest"]["properties"]["title"]
    assert not re.match(title["pattern"].replace("\\x00", "\x00"), "a\x00b")
    response = auth_client.post("/api/v1/tasks", {"title": "a\x00b"}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"title"}


@pytest.mark.django_db
def test_integer_query_parameters_are_unsigned_as_documented(schema, api_client):
    author = _parameter(schema, "GET /api/v2/posts", "author")
    assert author["minimum"] == 0
    assert api_client.get("/api/v2/posts?author=-1").status_code == 400
