from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command

from tasks import services
from tasks.models import Task, TaskDigestLedger, TaskReminderLedger
from tests.factories import UserFactory
from tests.tasks.factories import TaskFactory

pytestmark = pytest.mark.django_db


def test_seed_inserts_tasks_over_existing_users_with_progress():
    from tasks.seeding import seed

    users = [UserFactory() for _ in range(3)]
    reported: list[int] = []
    assert seed(count=12, progress=reported.append) == 12
    assert reported == [12]
    assert Task.objects.count() == 12
    assert set(Task.objects.values_list("owner_id", flat=True)) == {u.pk for u in users}
    completed = Task.objects.filter(status="completed")
    assert completed.exists() and not completed.filter(completed_at__isnull=True).exists()
    assert not Task.objects.exclude(status="completed").filter(completed_at__isnull=False).exists()


def test_seed_demo_command_seeds_tasks():
    UserFactory()
    call_command("seed_demo", "--tasks", "7", stdout=io.StringIO())
    assert Task.objects.count() == 7


def test_purge_deletes_only_ledger_rows_past_retention(settings):
    settings.TASKS_LEDGER_RETENTION_DAYS = 90
    now = datetime(2026, 6, 10, tzinfo=UTC)
    task = TaskFactory()
    old = TaskReminderLedger.objects.create(
        task=task, kind="overdue", local_date=date(2026, 3, 1), sent_at=now - timedelta(days=91)
    )
    kept = TaskReminderLedger.objects.create(
        task=task, kind="overdue", local_date=date(2026, 3, 20), sent_at=now - timedelta(days=89)
    )
    TaskDigestLedger.objects.create(
        user=task.owner, iso_year=2026, iso_week=9, sent_at=now - timedelta(days=100)
    )
    assert services.ledgers_purge(now=now, batch_size=1) == 2
    assert list(TaskReminderLedger.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not TaskReminderLedger.objects.filter(pk=old.pk).exists()
    assert TaskDigestLedger.objects.count() == 0
