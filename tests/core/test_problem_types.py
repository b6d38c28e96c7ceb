"""One scheme for problem `type`: `/problems/<code>`, resolvable, and every body rendered alike."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from pathlib import Path

import pytest
import rest_framework_simplejwt
from rest_framework import exceptions as drf

from core import problems
from core.problems import PROBLEM_TYPES

ROOT = Path(__file__).resolve().parents[2]
APPS = ("accounts", "config", "core", "monitoring", "posts", "stats", "syncqueue", "tasks")
# Status values of the health documents, not problem codes.
NOT_PROBLEMS = {"healthy", "degraded", "unhealthy"}


def _codes_in_source(paths: list[Path]) -> set[str]:
    pattern = re.compile(r"""\b(?:default_)?code\s*=\s*["']([a-z_]+)["']""")
    codes: set[str] = set()
    for path in paths:
        codes.update(pattern.findall(path.read_text()))
    return codes - NOT_PROBLEMS


def _all_subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _all_subclasses(sub)
    return found


def test_every_code_the_project_and_its_libraries_raise_has_a_page():
    project = [p for app in APPS for p in (ROOT / app).rglob("*.py") if "migrations" not in p.parts]
    simplejwt_dir = Path(rest_framework_simplejwt.__file__).parent
    for info in pkgutil.iter_modules([str(simplejwt_dir)]):
        importlib.import_module(f"rest_framework_simplejwt.{info.name}")
    library_codes = {
        sub.default_code
        for sub in _all_subclasses(drf.APIException)
        if sub.__module__.startswith(("rest_framework", "rest_framework_simplejwt"))
    }
    simplejwt_codes = _codes_in_source(list(simplejwt_dir.glob("*.py")))
    codes = _codes_in_source(project) | library_codes | simplejwt_codes
    assert "invalid_cursor" in codes and "token_not_valid" in codes  # the scan finds codes
    missing = sorted(codes - set(PROBLEM_TYPES))
    assert missing == [], f"add these problem codes to core/problems.py: {missing}"


def test_each_code_is_in_the_catalog_once():
    codes = [problem.code for problem in problems._TYPES]
    assert sorted({c for c in codes if codes.count(c) > 1}) == []


def _is_compact(raw: bytes) -> bool:
    return raw.decode() == json.dumps(json.loads(raw), separators=(",", ":"), ensure_ascii=False)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("get", "/api/v1/nope", {}, 404, "not_found"),  # Django's URL resolver
        ("get", "/api/v1/tasks", {}, 401, "not_authenticated"),  # DRF
        ("delete", "/api/stats", {}, 405, "method_not_allowed"),
        ("get", "/api/v2/posts?cursor=bad", {}, 400, "invalid_cursor"),  # a domain error
        ("get", "/api/v2/posts?colour=red", {}, 400, "unknown_parameter"),
        (
            "post",
            "/api/v1/auth/token",
            {"data": "{", "content_type": "application/json"},
            400,
            "parse_error",
        ),
        (
            "post",
            "/api/v1/auth/token",
            {"data": "x", "content_type": "application/json", "CONTENT_LENGTH": "99999999"},
            413,
            "payload_too_large",
        ),
    ],
)
def test_problem_type_resolves_and_body_is_compact(client, method, path, kwargs, status, code):
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert (body["code"], body["type"]) == (code, f"/problems/{code}")
    assert _is_compact(response.content), response.content

    page = client.get(body["type"], HTTP_ACCEPT="application/json")
    assert page.status_code == 200
    assert page.json()["code"] == code
    assert page.json()["status"] == status
    html = client.get(body["type"], HTTP_ACCEPT="text/html")
    assert html.status_code == 200
    assert html["Content-Type"].startswith("text/html")
    assert PROBLEM_TYPES[code].title in html.content.decode()


def test_problem_list_links_every_type(client):
    listing = client.get("/problems", HTTP_ACCEPT="application/json")
    assert listing.status_code == 200
    assert {p["code"] for p in listing.json()["problems"]} == set(PROBLEM_TYPES)
    html = client.get("/problems").content.decode()
    for code in PROBLEM_TYPES:
        assert f'href="/problems/{code}"' in html


def test_unknown_problem_type_is_404(client):
    assert client.get("/problems/no_such_code").status_code == 404


def test_front_door_answers_html_and_json(client):
    html = client.get("/")
    assert html.status_code == 200
    text = html.content.decode()
    for path in ("/api/docs/", "/api/schema/", "/api/health", "/admin/", "/ops/", "/problems"):
        assert f'href="{path}"' in text
    data = client.get("/", HTTP_ACCEPT="application/json")
    assert data.status_code == 200
    assert data.json()["links"]["docs"] == "/api/docs/"
    assert data["Vary"] == "Accept"
    assert "public" in data["Cache-Control"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/docs", "/api/schema"])
def test_docs_and_schema_answer_without_the_trailing_slash(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response["Content-Type"] == client.get(f"{path}/")["Content-Type"]
