"""RBAC matrix: the status every role gets from every endpoint and method under /api/, on its
own object and on another user's. Read it as the access spec.

Rows are (URL name, method). The endpoints and methods come from the URLconf (each view's
handler methods; OPTIONS and HEAD follow GET and are covered by tests/core/test_options.py), so
a new endpoint or method without a row fails `test_every_endpoint_and_method_has_a_row`.

A cell is one status (no object involved, or the role owns none) or (own, other): the caller's
own object (their task, their account, a post they wrote) and one of another user's. Every cell
runs in a savepoint that is rolled back, so a DELETE in one cell leaves the next one its world.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from accounts.tokens import refresh_token_for
from tests.api.conftest import ROLES, Persona, World

Cell = int | tuple[int, int]
A, M, E, D = "anonymous", "member", "editor", "admin"

# fmt: off
MATRIX: dict[tuple[str, str], dict[str, Cell]] = {
    # Public reads.
    ("stats", "GET"):                  {A: 200, M: 200, E: 200, D: 200},
    ("schema", "GET"):                 {A: 200, M: 200, E: 200, D: 200},
    ("schema-no-slash", "GET"):        {A: 200, M: 200, E: 200, D: 200},
    ("docs", "GET"):                   {A: 200, M: 200, E: 200, D: 200},
    ("docs-no-slash", "GET"):          {A: 200, M: 200, E: 200, D: 200},
    ("health-live", "GET"):            {A: 200, M: 200, E: 200, D: 200},
    ("health", "GET"):                 {A: 200, M: 200, E: 200, D: 200},
    # Metrics: by network (the test client is 127.0.0.1, allowed) or bearer token, not by role.
    ("metrics", "GET"):                {A: 200, M: 200, E: 200, D: 200},
    # Auth: credentials in the body (anonymous sends a wrong password or a forged token).
    ("auth-token", "POST"):            {A: 401, M: 200, E: 200, D: 200},
    ("auth-refresh", "POST"):          {A: 401, M: 200, E: 200, D: 200},
    ("auth-verify", "POST"):           {A: 401, M: 200, E: 200, D: 200},
    ("auth-logout-all", "POST"):       {A: 401, M: 200, E: 200, D: 200},
    # Users: admins manage everyone; anyone else reaches only themselves (others read as 404).
    ("user-list", "GET"):              {A: 401, M: 403, E: 403, D: 200},
    ("user-list", "POST"):             {A: 401, M: 403, E: 403, D: 201},
    ("user-me", "GET"):                {A: 401, M: 200, E: 200, D: 200},
    ("user-me", "PUT"):                {A: 401, M: 200, E: 200, D: 200},
    ("user-me", "PATCH"):              {A: 401, M: 200, E: 200, D: 200},
    # The only active admin may not deactivate themselves.
    ("user-me", "DELETE"):             {A: 401, M: 204, E: 204, D: 409},
    ("user-detail", "GET"):            {A: 401, M: (200, 404), E: (200, 404), D: (200, 200)},
    ("user-detail", "PUT"):            {A: 401, M: (200, 404), E: (200, 404), D: (200, 200)},
    ("user-detail", "PATCH"):          {A: 401, M: (200, 404), E: (200, 404), D: (200, 200)},
    ("user-detail", "DELETE"):         {A: 401, M: (204, 404), E: (204, 404), D: (409, 204)},
    # Posts v1 (deprecated, read-only) and v2 reads: public; authorship changes nothing.
    ("posts-v1-list", "GET"):          {A: 200, M: 200, E: 200, D: 200},
    ("posts-v1-detail", "GET"):        {A: 200, M: 200, E: (200, 200), D: (200, 200)},
    ("posts-v1-by-slug", "GET"):       {A: 200, M: 200, E: (200, 200), D: (200, 200)},
    ("posts-v1-user-posts", "GET"):    {A: 200, M: 200, E: (200, 200), D: (200, 200)},
    ("posts-v2-list", "GET"):          {A: 200, M: 200, E: 200, D: 200},
    ("posts-v2-detail", "GET"):        {A: 200, M: 200, E: (200, 200), D: (200, 200)},
    # Posts v2 writes: editors and admins, on any post (not only their own).
    ("posts-v2-list", "POST"):         {A: 401, M: 403, E: 201, D: 201},
    ("posts-v2-detail", "PATCH"):      {A: 401, M: 403, E: (200, 200), D: (200, 200)},
    ("posts-v2-detail", "DELETE"):     {A: 401, M: 403, E: (204, 204), D: (204, 204)},
    ("posts-v2-publish", "POST"):      {A: 401, M: 403, E: (200, 200), D: (200, 200)},
    # Tasks: everyone signed in has their own; another user's task is a 404, except for admins.
    ("task-list", "GET"):              {A: 401, M: 200, E: 200, D: 200},
    ("task-list", "POST"):             {A: 401, M: 201, E: 201, D: 201},
    # Asked with ?scope=global: admins only (own statistics are anyone's).
    ("task-statistics", "GET"):        {A: 401, M: 403, E: 403, D: 200},
    ("task-detail", "GET"):            {A: 401, M: (200, 404), E: (200, 404), D: (200, 200)},
    ("task-detail", "PUT"):            {A: 401, M: (200, 404), E: (200, 404), D: (200, 200)},
    ("task-detail", "PATCH"):          {A: 401, M: (200, 404), E: (200, 404), D: (200, 200)},
    ("task-detail", "DELETE"):         {A: 401, M: (204, 404), E: (204, 404), D: (204, 204)},
    ("task-complete", "POST"):         {A: 401, M: (200, 404), E: (200, 404), D: (200, 200)},
}
# fmt: on

# URL kwargs of the object a cell acts on: (world, persona, own?) → kwargs.
Target = Callable[[World, Persona, bool], dict[str, Any]]


def _task(w: World, p: Persona, own: bool) -> dict[str, Any]:
    return {"pk": w.tasks[p.role] if own else w.other_task}


def _user(w: World, p: Persona, own: bool) -> dict[str, Any]:
    return {"pk": p.pk if own else w.other_user.pk}


def _post(w: World, p: Persona, own: bool) -> dict[str, Any]:
    return {"pk": w.posts[p.role].pk if own else w.other_post.pk}


def _slug(w: World, p: Persona, own: bool) -> dict[str, Any]:
    return {"slug": w.posts[p.role].slug if own else w.other_post.slug}


def _author(w: World, p: Persona, own: bool) -> dict[str, Any]:
    return {"user_id": p.pk if own else w.other_editor.pk}


SIGNED_IN = (M, E, D)
AUTHORS = (E, D)  # only editors and admins write posts
# URL name → (its object, the roles that own one).
TARGETS: dict[str, tuple[Target, tuple[str, ...]]] = {
    "task-detail": (_task, SIGNED_IN),
    "task-complete": (_task, SIGNED_IN),
    "user-detail": (_user, SIGNED_IN),
    "posts-v1-detail": (_post, AUTHORS),
    "posts-v1-by-slug": (_slug, AUTHORS),
    "posts-v1-user-posts": (_author, AUTHORS),
    "posts-v2-detail": (_post, AUTHORS),
    "posts-v2-publish": (_post, AUTHORS),
}
QUERIES = {("task-statistics", "GET"): "?scope=global"}


def _body(name: str, method: str, world: World, persona: Persona) -> dict[str, Any] | None:
    user = persona.user
    if name == "auth-token":
        if user is None:
            return {"email": world.other_user.email, "password": "not-the-password"}
        return {"email": user.email, "password": "pass-Word-123"}
    if name == "auth-refresh":
        return {"refresh": str(refresh_token_for(user)) if user else "forged.refresh.token"}
    if name == "auth-verify":
        return {"token": persona.headers["Authorization"][7:] if user else "forged.access.token"}
    if name == "user-list" and method == "POST":
        return {"email": "new-user@example.com", "password": "A-long-pass-phrase-1"}
    if name in ("user-me", "user-detail") and method in ("PUT", "PATCH"):
        return {"name": "New Name"}
    if name in ("posts-v2-list", "task-list") and method == "POST":
        return {"title": "Created"}
    if name in ("posts-v2-detail", "task-detail") and method in ("PUT", "PATCH"):
        return {"title": "Changed"}
    return None


# --------------------------------------------------------------------------- the URLconf


def _api_endpoints() -> set[tuple[str, str]]:
    """(URL name, method) for every named route under /api/ and each method its view handles."""
    found: set[tuple[str, str]] = set()

    def walk(patterns: list, prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and route.startswith("api/") and pattern.name:
                for method in _methods(pattern.callback):
                    found.add((pattern.name, method))

    walk(get_resolver().url_patterns, "")
    return found


def _methods(callback: Any) -> list[str]:
    view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    if view_class is None:  # plain function views here are @require_safe: GET (and HEAD)
        return ["GET"]
    return [
        method.upper()
        for method in view_class.http_method_names
        if method not in ("options", "head") and hasattr(view_class, method)
    ]


def test_every_endpoint_and_method_has_a_row():
    endpoints = _api_endpoints()
    assert endpoints - set(MATRIX) == set(), "endpoints without a row in the RBAC matrix"
    assert set(MATRIX) - endpoints == set(), "rows for endpoints that no longer exist"


def test_cells_say_own_and_other_exactly_where_a_role_owns_the_object():
    for (name, _method), row in MATRIX.items():
        assert set(row) == set(ROLES)
        owning = TARGETS[name][1] if name in TARGETS else ()
        for role, cell in row.items():
            assert isinstance(cell, tuple) == (role in owning), (name, role)


# --------------------------------------------------------------------------- the cells


def _request(world: World, name: str, method: str, role: str, *, own: bool) -> int:
    persona = world.personas[role]
    kwargs = TARGETS[name][0](world, persona, own) if name in TARGETS else {}
    path = reverse(name, kwargs=kwargs) + QUERIES.get((name, method), "")
    client = APIClient()
    if persona.headers:
        client.credentials(HTTP_AUTHORIZATION=persona.headers["Authorization"])
    body = _body(name, method, world, persona)
    with transaction.atomic():
        data = "" if body is None else json.dumps(body)
        response = client.generic(method, path, data=data, content_type="application/json")
        transaction.set_rollback(True)
    return response.status_code


@pytest.mark.parametrize(("name", "method"), sorted(MATRIX), ids=lambda v: v)
def test_rbac_row(world, name, method):
    expected = MATRIX[(name, method)]
    actual: dict[str, Cell] = {}
    for role, cell in expected.items():
        if isinstance(cell, tuple):
            actual[role] = (
                _request(world, name, method, role, own=True),
                _request(world, name, method, role, own=False),
            )
        else:
            actual[role] = _request(world, name, method, role, own=False)
    assert actual == expected
