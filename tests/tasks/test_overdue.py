"""Hourly overdue alerts: once per task and due date, on the urgent queue."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.db import connections

from tasks import services
from tasks.jobs import schedule_overdue_alerts
from tasks.models import Task, TaskReminderLedger
from tests.factories import UserFactory
from tests.tasks.factories import TaskFactory
from tests.tasks.helpers import published_jobs

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


def test_overdue_tasks_are_alerted_once_per_due_date():
    user = UserFactory(timezone="America/New_York")
    late = TaskFactory(owner=user, due_date=NOW - timedelta(minutes=30), title="late one")
    TaskFactory(owner=user, due_date=NOW + timedelta(days=3))  # not yet due
    TaskFactory(owner=user, due_date=NOW - timedelta(hours=2), status="completed")
    TaskFactory(owner=user, due_date=NOW - timedelta(days=30))  # beyond the lookback

    with published_jobs() as jobs:
        schedule_overdue_alerts.delay(NOW.isoformat())
    assert [m.subject for m in mail.outbox] == ["Overdue: late one"]
    assert [name for name, _ in jobs] == [
        "tasks.jobs.schedule_overdue_alerts",
        "tasks.jobs.send_overdue_alerts_chunk",
    ]
    ledger = TaskReminderLedger.objects.get()
    # The ledger date is the due date's local date in the owner's zone (07:30 in New York).
    assert (ledger.task_id, ledger.kind, str(ledger.local_date)) == (
        late.pk,
        "overdue",
        "2026-06-10",
    )

    services.overdue_schedule_alerts(now=NOW + timedelta(hours=1))
    services.overdue_schedule_alerts(now=NOW + timedelta(hours=2))
    assert len(mail.outbox) == 1

    # Moved to a later due date and missed again: a new alert for the new date.
    Task.objects.filter(pk=late.pk).update(due_date=NOW + timedelta(days=1, hours=1))
    services.overdue_schedule_alerts(now=NOW + timedelta(days=1, hours=2))
    assert len(mail.outbox) == 2


def test_alert_is_skipped_when_task_was_completed_after_selection():
    user = UserFactory(timezone="UTC")
    task = TaskFactory(owner=user, due_date=NOW - timedelta(hours=1))
    Task.objects.filter(pk=task.pk).update(status="completed")
    assert services.reminder_send_chunk(task_ids=[task.pk], kind="overdue", now=NOW) == []
    assert mail.outbox == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_overdue_runs_send_each_alert_once():
    users = [UserFactory(timezone="Europe/Berlin") for _ in range(3)]
    tasks = [
        TaskFactory(owner=users[i % 3], due_date=NOW - timedelta(minutes=i + 1)) for i in range(9)
    ]
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            services.overdue_schedule_alerts(now=NOW)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(m.subject for m in mail.outbox) == sorted(f"Overdue: {t.title}" for t in tasks)
    assert TaskReminderLedger.objects.filter(kind="overdue").count() == 9


def test_inactive_owners_get_no_overdue_alert():
    user = UserFactory(timezone="UTC", is_active=False)
    TaskFactory(owner=user, due_date=NOW - timedelta(hours=1))
    services.overdue_schedule_alerts(now=NOW)
    assert mail.outbox == []
    assert not TaskReminderLedger.objects.exists()
