"""Daily reminders at 09:00 user-local: day boundaries, DST in several zones (injected clock),
idempotence under duplicate scheduling and concurrent runs, chunked fan-out, retries."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.db import connections

from core import redis as coordination
from tasks import services
from tasks.jobs import schedule_daily_reminders, send_task_reminders_chunk
from tasks.models import Task, TaskReminderLedger
from tests.factories import UserFactory
from tests.tasks import email_backends
from tests.tasks.factories import TaskFactory
from tests.tasks.helpers import local, mails_to, published_jobs

pytestmark = pytest.mark.django_db


def test_sent_at_local_nine_for_tasks_due_on_local_tomorrow_only():
    zone = "America/New_York"
    user = UserFactory(timezone=zone)
    today = date(2026, 6, 10)
    tomorrow = today + timedelta(days=1)
    inside = [
        TaskFactory(owner=user, due_date=local(tomorrow, time(0, 0), zone), title="midnight"),
        TaskFactory(owner=user, due_date=local(tomorrow, time(23, 59, 59), zone), title="late"),
        TaskFactory(owner=user, due_date=local(tomorrow, time(12), zone), status="in_progress"),
    ]
    TaskFactory(owner=user, due_date=local(today, time(23, 59, 59), zone), title="today")
    TaskFactory(owner=user, due_date=local(tomorrow + timedelta(days=1), time(0), zone))
    TaskFactory(owner=user, due_date=local(tomorrow, time(12), zone), status="completed")
    TaskFactory(owner=user, due_date=None)

    services.reminders_schedule_daily(now=local(today, time(8, 59, 59), zone))
    assert mail.outbox == []
    services.reminders_schedule_daily(now=local(today, time(9, 0), zone))
    assert sorted(m.subject for m in mail.outbox) == sorted(
        f"Due tomorrow: {t.title}" for t in inside
    )
    assert {m.to[0] for m in mail.outbox} == {user.email}
    ledger = set(TaskReminderLedger.objects.values_list("task_id", "kind", "local_date"))
    assert ledger == {(t.pk, "due_tomorrow", tomorrow) for t in inside}


def test_email_has_text_and_html_parts_in_local_time():
    user = UserFactory(timezone="Asia/Tokyo", name="Kei")
    day = date(2026, 6, 10)
    TaskFactory(
        owner=user, title="Pay <rent> & bills", due_date=local(day, time(18, 30), "Asia/Tokyo")
    )
    services.reminders_schedule_daily(now=local(day - timedelta(days=1), time(9, 1), "Asia/Tokyo"))
    (message,) = mail.outbox
    assert "Pay <rent> & bills" in message.body
    assert "18:30" in message.body and "Asia/Tokyo" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert "Pay &lt;rent&gt; &amp; bills" in html


def test_users_without_or_with_unknown_zone_use_settings_time_zone(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    plain = UserFactory(timezone="")
    odd = UserFactory(timezone="Mars/Olympus_Mons")
    day = date(2026, 6, 10)
    for owner in (plain, odd):
        TaskFactory(owner=owner, due_date=local(day, time(15), "Europe/Berlin"))
    services.reminders_schedule_daily(
        now=local(day - timedelta(days=1), time(8, 59), "Europe/Berlin")
    )
    assert mail.outbox == []
    services.reminders_schedule_daily(
        now=local(day - timedelta(days=1), time(9, 0), "Europe/Berlin")
    )
    assert sorted(m.to[0] for m in mail.outbox) == sorted([plain.email, odd.email])


def test_inactive_users_get_nothing():
    user = UserFactory(timezone="UTC", is_active=False)
    TaskFactory(owner=user, due_date=datetime(2026, 6, 11, 12, tzinfo=UTC))
    services.reminders_schedule_daily(now=datetime(2026, 6, 10, 9, 0, tzinfo=UTC))
    assert mail.outbox == []


# Spring-forward and fall-back weeks in zones on both hemispheres, plus zones without DST
# and with odd offsets. Every 5-minute beat tick over the window is replayed.
DST_WINDOWS = [
    ("America/New_York spring forward", date(2026, 3, 7)),  # 2026-03-08 02:00 → 03:00
    ("Europe/Berlin fall back", date(2026, 10, 24)),  # 2026-10-25 03:00 → 02:00
    ("Australia/Sydney spring forward", date(2026, 10, 3)),  # 2026-10-04 02:00 → 03:00
]
ZONES = ("America/New_York", "Europe/Berlin", "Australia/Sydney", "Asia/Kolkata", "Pacific/Chatham")


@pytest.mark.parametrize(("label", "first_day"), DST_WINDOWS, ids=[w[0] for w in DST_WINDOWS])
def test_each_local_day_gets_exactly_one_reminder_run_across_dst(label, first_day):
    days = [first_day + timedelta(days=offset) for offset in range(4)]
    expected: dict[int, tuple[str, date]] = {}
    for zone in ZONES:
        owner = UserFactory(timezone=zone)
        for day in days[1:]:
            for at in (time(0, 0), time(2, 30), time(23, 59)):
                task = TaskFactory(owner=owner, due_date=local(day, at, zone))
                expected[task.pk] = (zone, day)

    tick = datetime.combine(first_day, time(0), tzinfo=UTC) - timedelta(hours=14)
    end = datetime.combine(days[-1], time(0), tzinfo=UTC) + timedelta(hours=14)
    sent_at: dict[int, list[datetime]] = {}
    while tick < end:
        before = len(mail.outbox)
        services.reminders_schedule_daily(now=tick)
        for message in mail.outbox[before:]:
            task_id = _task_id_from(message)
            sent_at.setdefault(task_id, []).append(tick)
        tick += timedelta(minutes=5)

    assert set(sent_at) == set(expected), label
    for task_id, ticks in sent_at.items():
        zone, due_day = expected[task_id]
        assert len(ticks) == 1, (label, zone, due_day, ticks)
        local_tick = ticks[0].astimezone(ZoneInfo(zone))
        assert local_tick.date() == due_day - timedelta(days=1), (label, zone, local_tick)
        assert time(9, 0) <= local_tick.time() < time(9, 5), (label, zone, local_tick)


def _task_id_from(message) -> int:
    return Task.objects.get(title=message.subject.removeprefix("Due tomorrow: ")).pk


def test_beat_firing_twice_and_a_lost_marker_send_nothing_twice():
    user = UserFactory(timezone="UTC")
    tasks = [
        TaskFactory(owner=user, due_date=datetime(2026, 6, 11, 10, tzinfo=UTC)) for _ in range(3)
    ]
    now = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
    services.reminders_schedule_daily(now=now)
    services.reminders_schedule_daily(now=now)  # duplicate tick: skipped by the fan-out marker
    coordination.reset_clients()
    _flush_coordination_db()  # marker lost (Redis restart): the scan runs again, the ledger decides
    counts = services.reminders_schedule_daily(now=now + timedelta(minutes=5))
    assert counts["tasks"] == 0  # already-ledgered tasks are not even selected
    send_task_reminders_chunk.delay([t.pk for t in tasks], "2026-06-11", now.isoformat())  # re-run
    assert len(mail.outbox) == 3
    assert TaskReminderLedger.objects.count() == 3


def _flush_coordination_db() -> None:
    import redis as redis_lib
    from django.conf import settings

    redis_lib.Redis.from_url(settings.REDIS_URL).flushdb()


def test_fan_out_is_chunked_never_one_message_per_task(settings):
    settings.REMINDER_CHUNK_SIZE = 4
    users = [UserFactory(timezone="Europe/Berlin") for _ in range(3)]
    due = local(date(2026, 6, 11), time(10), "Europe/Berlin")
    tasks = [
        TaskFactory(
            owner=users[i % 3],
            due_date=due + timedelta(minutes=i),
            status="in_progress" if i % 3 == 0 else "pending",  # batches pack both statuses
        )
        for i in range(10)
    ]
    with published_jobs() as jobs:
        counts = schedule_daily_reminders.delay(
            local(date(2026, 6, 10), time(9, 2), "Europe/Berlin").isoformat()
        ).get()
    chunks = [args for name, args in jobs if name == "tasks.jobs.send_task_reminders_chunk"]
    assert counts == {"zones": 1, "chunks": 3, "tasks": 10}
    assert [len(args[0]) for args in chunks] == [4, 4, 2]
    assert sorted(pk for args in chunks for pk in args[0]) == sorted(t.pk for t in tasks)
    assert len(mail.outbox) == 10


def test_routes_put_reminder_chunks_on_reminders_and_overdue_on_urgent():
    from config.celery import app

    route = app.amqp.router.route
    assert route({}, "tasks.jobs.send_task_reminders_chunk")["queue"].name == "reminders"
    assert route({}, "tasks.jobs.send_overdue_alerts_chunk")["queue"].name == "urgent"
    assert route({}, "tasks.jobs.send_weekly_digests_chunk")["queue"].name == "default"
    assert route({}, "tasks.jobs.warm_task_statistics")["queue"].name == "default"


def test_tasks_no_longer_active_or_moved_are_skipped_at_send_time():
    user = UserFactory(timezone="UTC")
    due = datetime(2026, 6, 11, 10, tzinfo=UTC)
    done = TaskFactory(owner=user, due_date=due)
    moved = TaskFactory(owner=user, due_date=due)
    kept = TaskFactory(owner=user, due_date=due)
    Task.objects.filter(pk=done.pk).update(status="completed")
    Task.objects.filter(pk=moved.pk).update(due_date=due + timedelta(days=3))
    now = datetime(2026, 6, 10, 9, tzinfo=UTC)
    failed = services.reminder_send_chunk(
        task_ids=[done.pk, moved.pk, kept.pk], kind="due_tomorrow", due_on=due.date(), now=now
    )
    assert failed == []
    assert [m.subject for m in mail.outbox] == [f"Due tomorrow: {kept.title}"]


@pytest.fixture
def eager_retries():
    """Eager retries re-run inline only when eager errors don't propagate (Celery's apply)."""
    from config.celery import app

    app.conf.task_eager_propagates = False
    yield
    app.conf.task_eager_propagates = True


def test_send_is_retried_with_backoff_then_succeeds(settings, eager_retries):
    settings.EMAIL_BACKEND = "tests.tasks.email_backends.FlakyBackend"
    user = UserFactory(timezone="UTC")
    task = TaskFactory(owner=user, due_date=datetime(2026, 6, 11, 10, tzinfo=UTC))
    email_backends.failures[user.email] = 2  # first two tries fail, the third succeeds
    try:
        send_task_reminders_chunk.delay([task.pk], "2026-06-11", "2026-06-10T09:00:00+00:00")
    finally:
        email_backends.failures.clear()
    assert len(mail.outbox) == 1
    assert TaskReminderLedger.objects.filter(task=task).count() == 1


def test_permanent_failure_is_logged_with_task_id_and_others_still_sent(
    settings, caplog, eager_retries
):
    settings.EMAIL_BACKEND = "tests.tasks.email_backends.FlakyBackend"
    broken, fine = UserFactory(timezone="UTC"), UserFactory(timezone="UTC")
    due = datetime(2026, 6, 11, 10, tzinfo=UTC)
    bad = TaskFactory(owner=broken, due_date=due)
    good = TaskFactory(owner=fine, due_date=due)
    email_backends.failures[broken.email] = -1
    try:
        with caplog.at_level(logging.WARNING, logger="tasks"):
            send_task_reminders_chunk.delay(
                [bad.pk, good.pk], "2026-06-11", "2026-06-10T09:00:00+00:00"
            )
    finally:
        email_backends.failures.clear()
    assert [m.to[0] for m in mail.outbox] == [fine.email]
    assert not TaskReminderLedger.objects.filter(task=bad).exists()  # rolled back: retryable
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("failed permanently" in e and str(bad.pk) in e for e in errors)
    attempts = [r for r in caplog.records if f"task_id={bad.pk}" in r.getMessage()]
    assert len(attempts) == 3  # three tries in all


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_on_the_same_chunk_send_each_reminder_once():
    users = [UserFactory(timezone="UTC") for _ in range(4)]
    due = datetime(2026, 6, 11, 10, tzinfo=UTC)
    tasks = [TaskFactory(owner=users[i % 4], due_date=due) for i in range(12)]
    ids = [t.pk for t in tasks]
    now = datetime(2026, 6, 10, 9, tzinfo=UTC)
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            services.reminder_send_chunk(
                task_ids=ids, kind="due_tomorrow", due_on=due.date(), now=now
            )
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(m.subject for m in mail.outbox) == sorted(
        f"Due tomorrow: {t.title}" for t in tasks
    )
    assert TaskReminderLedger.objects.count() == 12
    assert all(len(mails_to(u.email)) == 3 for u in users)
