"""Statistics: the user's counts (local "today"), global entry in the coordination Redis."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
import redis as redis_lib
import time_machine
from django.conf import settings

from tasks.jobs import compute_global_task_statistics
from tasks.selectors import task_global_statistics, task_statistics_for_user
from tests.factories import UserFactory
from tests.tasks.factories import TaskFactory
from tests.tasks.helpers import local

pytestmark = pytest.mark.django_db

TOKYO = "Asia/Tokyo"
NOW = local(date(2026, 6, 10), time(8, 0), TOKYO)  # 2026-06-09 23:00 UTC


def _fill(user) -> None:
    TaskFactory(owner=user, status="pending", due_date=NOW - timedelta(hours=1))  # overdue
    TaskFactory(owner=user, status="in_progress", due_date=NOW + timedelta(hours=1))
    TaskFactory(
        owner=user, status="completed", completed_at=local(date(2026, 6, 10), time(0, 30), TOKYO)
    )
    TaskFactory(
        owner=user, status="completed", completed_at=local(date(2026, 6, 9), time(23, 30), TOKYO)
    )


def test_user_statistics_count_today_in_the_users_zone():
    user = UserFactory(timezone=TOKYO)
    _fill(user)
    TaskFactory()  # someone else's
    stats = task_statistics_for_user(user=user, now=NOW)
    assert stats["total"] == 4
    assert stats["by_status"] == {"pending": 1, "in_progress": 1, "completed": 2}
    assert stats["overdue"] == 1
    assert stats["completed_today"] == 1  # 00:30 Tokyo today; 23:30 yesterday is not today
    assert (stats["local_date"], stats["time_zone"]) == ("2026-06-10", TOKYO)


def test_statistics_endpoint_uses_the_users_local_day(client_for):
    user = UserFactory(timezone=TOKYO)
    _fill(user)
    with time_machine.travel(NOW, tick=False):
        response = client_for(user).get("/api/v1/tasks/statistics")
    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["scope"], data["completed_today"], data["overdue"]) == ("own", 1, 1)


def test_global_statistics_job_stores_in_coordination_redis(admin_client):
    _fill(UserFactory(timezone=TOKYO))
    _fill(UserFactory(timezone="UTC"))
    TaskFactory(status="completed", completed_at=datetime(2026, 6, 10, 0, 10, tzinfo=UTC))
    assert task_global_statistics() is None
    with time_machine.travel(datetime(2026, 6, 10, 0, 45, tzinfo=UTC), tick=False):
        compute_global_task_statistics.delay()
    raw = redis_lib.Redis.from_url(settings.REDIS_URL).get("tasks:v1:stats:global")
    assert raw is not None
    stored = task_global_statistics()
    assert stored["total"] == 9
    assert stored["by_status"] == {"pending": 2, "in_progress": 2, "completed": 5}
    assert stored["time_zone"] == "UTC"
    # "Today" is 2026-06-10 in TIME_ZONE (UTC): 00:30 Tokyo on 06-10 is still 06-09 in UTC.
    assert stored["completed_today"] == 1
    response = admin_client.get("/api/v1/tasks/statistics?scope=global")
    assert response.status_code == 200
    assert response.json()["data"] == {"scope": "global", **stored}


def test_global_scope_computes_once_when_never_stored(admin_client):
    TaskFactory()
    data = admin_client.get("/api/v1/tasks/statistics?scope=global").json()["data"]
    assert data["total"] == 1
    assert task_global_statistics()["total"] == 1


def test_bad_scope_is_400(admin_client):
    assert admin_client.get("/api/v1/tasks/statistics?scope=everything").status_code == 400
