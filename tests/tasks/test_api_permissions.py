"""Members reach only their own tasks: another user's id is a 404 on every method, row unchanged."""

from __future__ import annotations

import pytest
from django.forms.models import model_to_dict

from tasks.models import Task
from tests.tasks.factories import TaskFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def foreign_task(other_user):
    return TaskFactory(owner=other_user, title="Not yours", description="secret")


def _snapshot(task: Task) -> dict:
    row = Task.objects.get(pk=task.pk)
    return {**model_to_dict(row), "completed_at": row.completed_at, "updated_at": row.updated_at}


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("get", "", None),
        ("put", "", {"title": "stolen"}),
        ("patch", "", {"status": "completed"}),
        ("patch", "", {"title": ""}),  # invalid too: still 404, never a 400 that confirms the id
        ("delete", "", None),
        ("post", "/complete", None),
    ],
)
def test_another_users_task_is_404_and_unchanged(auth_client, foreign_task, method, suffix, body):
    before = _snapshot(foreign_task)
    response = getattr(auth_client, method)(
        f"/api/v1/tasks/{foreign_task.pk}{suffix}", body, format="json"
    )
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert "secret" not in response.content.decode()
    assert _snapshot(foreign_task) == before


def test_list_and_statistics_show_only_own_tasks(auth_client, user, foreign_task):
    own = TaskFactory(owner=user)
    listed = auth_client.get("/api/v1/tasks").json()
    assert [row["id"] for row in listed["data"]] == [own.pk]
    stats = auth_client.get("/api/v1/tasks/statistics").json()["data"]
    assert stats["total"] == 1


def test_missing_id_is_the_same_404(auth_client):
    assert auth_client.get("/api/v1/tasks/999999").status_code == 404


def test_admin_sees_and_changes_every_task(admin_client, foreign_task):
    listed = admin_client.get("/api/v1/tasks").json()["data"]
    assert foreign_task.pk in [row["id"] for row in listed]
    response = admin_client.patch(
        f"/api/v1/tasks/{foreign_task.pk}", {"status": "in_progress"}, format="json"
    )
    assert response.status_code == 200
    assert Task.objects.get(pk=foreign_task.pk).status == "in_progress"


def test_anonymous_is_401_and_nothing_listed(api_client, foreign_task):
    response = api_client.get("/api/v1/tasks")
    assert response.status_code == 401
    assert api_client.post("/api/v1/tasks", {"title": "x"}, format="json").status_code == 401
    assert Task.objects.count() == 1


def test_member_cannot_read_global_statistics(auth_client):
    response = auth_client.get("/api/v1/tasks/statistics?scope=global")
    assert response.status_code == 403
