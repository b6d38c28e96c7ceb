"""One run through a real Celery worker on the real broker: beat job → chunks on `reminders`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from celery import signals
from django.core import mail

from tasks.jobs import schedule_daily_reminders
from tasks.models import TaskReminderLedger
from tests.factories import UserFactory
from tests.tasks.factories import TaskFactory
from tests.waiting import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.live_worker]


def test_reminders_flow_through_the_worker_and_the_reminders_queue(eager_off, settings):
    settings.REMINDER_CHUNK_SIZE = 2
    users = [UserFactory(timezone="UTC") for _ in range(2)]
    now = datetime(2026, 6, 10, 9, 1, tzinfo=UTC)
    tasks = [
        TaskFactory(owner=users[i % 2], due_date=now + timedelta(days=1, hours=i)) for i in range(5)
    ]
    routes: list[tuple[str, str]] = []

    def record(sender=None, task=None, **_):
        routes.append((sender.name, (task.request.delivery_info or {}).get("routing_key")))

    signals.task_prerun.connect(record, weak=False)
    try:
        schedule_daily_reminders.delay(now.isoformat())
        assert wait_until(lambda: TaskReminderLedger.objects.count() == len(tasks))
        assert wait_until(lambda: len(mail.outbox) == len(tasks))
    finally:
        signals.task_prerun.disconnect(record)
    assert sorted(m.subject for m in mail.outbox) == sorted(
        f"Due tomorrow: {t.title}" for t in tasks
    )
    chunk_routes = [key for name, key in routes if name == "tasks.jobs.send_task_reminders_chunk"]
    assert chunk_routes == ["reminders"] * 3
    # the fan-out is a long beat job: on `default`, so `reminders` keeps a short visibility timeout
    assert ("tasks.jobs.schedule_daily_reminders", "default") in routes
