"""CRUD, completion, filters, ordering, pagination and validation of /api/v1/tasks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings

from tasks.models import Task
from tests.tasks.factories import TaskFactory

pytestmark = pytest.mark.django_db


def test_create_returns_201_in_the_envelope(auth_client, user):
    response = auth_client.post(
        "/api/v1/tasks",
        {"title": "Write report", "description": "Q3", "due_date": "2026-12-01T10:00:00Z"},
        format="json",
    )
    assert response.status_code == 201
    data = response.json()["data"]
    task = Task.objects.get(pk=data["id"])
    assert task.owner == user
    assert (task.title, task.status, task.completed_at) == ("Write report", "pending", None)
    assert task.due_date == datetime(2026, 12, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "ok", "status": "done"}, "status"),
        ({"title": "ok", "due_date": "tomorrow"}, "due_date"),
        ({"title": "ok", "owner": 5}, "owner"),
        ({"title": "ok", "completed_at": "2026-01-01T00:00:00Z"}, "completed_at"),
    ],
)
def test_bad_input_is_400_with_field_details_and_nothing_written(auth_client, body, field):
    response = auth_client.post("/api/v1/tasks", body, format="json")
    assert response.status_code == 400
    problem = response.json()
    assert problem["code"] == "invalid"
    assert field in problem["errors"]
    assert Task.objects.count() == 0


def test_complete_is_idempotent_and_keeps_first_timestamp(auth_client, user):
    task = TaskFactory(owner=user)
    first = auth_client.post(f"/api/v1/tasks/{task.pk}/complete")
    assert first.status_code == 200
    assert first.json()["data"]["status"] == "completed"
    stamped = Task.objects.get(pk=task.pk).completed_at
    assert stamped is not None
    second = auth_client.post(f"/api/v1/tasks/{task.pk}/complete")
    assert second.status_code == 200
    assert Task.objects.get(pk=task.pk).completed_at == stamped


def test_reopening_clears_completed_at(auth_client, user):
    task = TaskFactory(owner=user)
    auth_client.post(f"/api/v1/tasks/{task.pk}/complete")
    response = auth_client.patch(f"/api/v1/tasks/{task.pk}", {"status": "pending"}, format="json")
    assert response.status_code == 200
    assert response.json()["data"]["completed_at"] is None
    assert Task.objects.get(pk=task.pk).completed_at is None


def test_patch_to_completed_sets_completed_at(auth_client, user):
    task = TaskFactory(owner=user)
    auth_client.patch(f"/api/v1/tasks/{task.pk}", {"status": "completed"}, format="json")
    assert Task.objects.get(pk=task.pk).completed_at is not None


def test_put_requires_title_and_replaces(auth_client, user):
    task = TaskFactory(owner=user, title="old")
    assert auth_client.put(f"/api/v1/tasks/{task.pk}", {}, format="json").status_code == 400
    response = auth_client.put(f"/api/v1/tasks/{task.pk}", {"title": "new"}, format="json")
    assert response.status_code == 200
    assert Task.objects.get(pk=task.pk).title == "new"


def test_delete_removes_the_row(auth_client, user):
    task = TaskFactory(owner=user)
    assert auth_client.delete(f"/api/v1/tasks/{task.pk}").status_code == 204
    assert not Task.objects.filter(pk=task.pk).exists()


def test_filters_by_status_and_due_range(auth_client, user):
    base = datetime(2026, 6, 1, tzinfo=UTC)
    early = TaskFactory(owner=user, due_date=base)
    middle = TaskFactory(owner=user, due_date=base + timedelta(days=5), status="in_progress")
    TaskFactory(owner=user, due_date=base + timedelta(days=10))
    TaskFactory(owner=user, due_date=None, status="completed")

    def ids(query: str) -> list[int]:
        response = auth_client.get(f"/api/v1/tasks?{query}")
        assert response.status_code == 200, response.content
        return sorted(row["id"] for row in response.json()["data"])

    assert ids("status=in_progress") == [middle.pk]
    assert ids("due_before=2026-06-06T00:00:01Z") == sorted([early.pk, middle.pk])
    assert ids("due_after=2026-06-02T00:00:00Z&due_before=2026-06-08T00:00:00Z") == [middle.pk]
    assert ids("due_after=2026-06-05T00:00:00Z&status=pending") == [
        Task.objects.latest("due_date").pk
    ]


@pytest.mark.parametrize(
    "query",
    [
        "status=bogus",
        "due_before=yesterday",
        "due_after=2026-13-01",
        "ordering=owner__password",
        "ordering=-secret",
        "due_after=2026-06-10T00:00:00Z&due_before=2026-06-01T00:00:00Z",
        "page=0",
        "page=abc",
        "page_size=1000",
        f"search={'x' * 201}",
    ],
)
def test_bad_query_is_400_never_500(auth_client, user, query):
    TaskFactory(owner=user)
    response = auth_client.get(f"/api/v1/tasks?{query}")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"


def test_ordering_allow_list_and_pagination_meta(auth_client, user):
    base = datetime(2026, 6, 1, tzinfo=UTC)
    tasks = [TaskFactory(owner=user, due_date=base + timedelta(days=i)) for i in range(5)]
    response = auth_client.get("/api/v1/tasks?ordering=-due_date&page_size=2&page=2")
    body = response.json()
    assert [row["id"] for row in body["data"]] == [tasks[2].pk, tasks[1].pk]
    assert body["meta"]["pagination"] == {"page": 2, "page_size": 2, "total": 5, "total_pages": 3}
    ascending = auth_client.get("/api/v1/tasks?ordering=due_date&page_size=5").json()["data"]
    assert [row["id"] for row in ascending] == [task.pk for task in tasks]


@override_settings(RATE_LIMITS={"tasks": "3/m", "default": "120/m", "auth": "10/m"})
def test_throttle_scope_tasks_limits_per_user(auth_client, client_for, other_user):
    statuses = [auth_client.get("/api/v1/tasks").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert client_for(other_user).get("/api/v1/tasks").status_code == 200
