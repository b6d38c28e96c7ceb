"""OPTIONS answers every API route (never a 500): DRF's metadata called get_object()."""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from tasks.models import Task
from tests.tasks.factories import TaskFactory

pytestmark = pytest.mark.django_db


def _api_paths() -> list[str]:
    """Every DRF route of the URLconf with its converters filled in (ints 1, strings "x")."""
    paths: list[str] = []

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            route = str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + route)
            elif isinstance(pattern, URLPattern) and hasattr(pattern.callback, "cls"):
                full = prefix + route
                for name, converter in pattern.pattern.converters.items():
                    kind = type(converter).__name__
                    value = "1" if kind == "IntConverter" else "x"
                    full = full.replace(f"<{kind[:-9].lower()}:{name}>", value)
                    full = full.replace(f"<{name}>", value)
                paths.append("/" + full.lstrip("^").rstrip("$"))

    walk(get_resolver().url_patterns, "")
    return sorted(set(paths))


def test_the_walk_finds_the_detail_routes():
    paths = _api_paths()
    assert "/api/v1/tasks/1" in paths and "/api/v1/users/me" in paths
    assert "/api/v2/posts/1" in paths


@pytest.mark.parametrize("client_name", ["auth_client", "admin_client", "api_client"])
def test_options_on_every_api_route_is_never_a_server_error(request, client_name):
    client = request.getfixturevalue(client_name)
    client.raise_request_exception = False
    failures = {}
    for path in _api_paths():
        response = client.options(path)
        if response.status_code >= 500:
            failures[path] = response.status_code
    assert failures == {}


def test_options_on_a_task_detail_lists_the_methods_and_changes_nothing(auth_client):
    task = TaskFactory(owner=auth_client.user, title="keep")
    response = auth_client.options(f"/api/v1/tasks/{task.pk}")
    assert response.status_code == 200, response.content
    assert {"GET", "PUT", "PATCH", "DELETE", "OPTIONS"} <= {
        method.strip() for method in response["Allow"].split(",")
    }
    assert response.json()["data"]["parses"] == ["application/json"]
    assert Task.objects.get(pk=task.pk).title == "keep"


def test_options_on_users_me_is_200(auth_client):
    response = auth_client.options("/api/v1/users/me")
    assert response.status_code == 200, response.content
    assert "PATCH" in response["Allow"]
