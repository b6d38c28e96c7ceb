"""Reminder, overdue-alert and digest emails: fan-out in chunks, send at most once.

At most once: each send runs in a transaction that first inserts its ledger row (unique on
(task, kind, due local date), or (user, ISO week) for digests). A second worker racing on
the same row waits for that row's lock and then hits the unique key; a beat tick firing
twice, a retry or a re-run after a crash finds the committed row and skips. A failed send
rolls its row back so a retry can send it. The one window left is a crash after the mail
server accepted the message and before the commit: that message may go out twice.

Fan-out: the scheduler streams ids in keyset batches of REMINDER_CHUNK_SIZE and publishes
one message per batch as it goes, so memory holds one batch whatever the table size.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from core import redis as coordination
from core.jobs import enqueue
from core.purge import rows_delete_in_chunks
from tasks import keys
from tasks.localtime import local_date, local_instant, zone_for
from tasks.models import Task, TaskDigestLedger, TaskReminderLedger
from tasks.selectors import (
    digest_content_for_user,
    digest_user_id_batches,
    overdue_task_id_batches,
    reminder_task_id_batches,
    user_zone_groups,
)

logger = logging.getLogger(__name__)

# A beat outage shorter than this still sends the day's reminders late rather than never.
REMINDER_CATCH_UP_SECONDS = 3 * 3600
# Digests are sent until Monday 20:00 local (DIGEST_LOCAL_HOUR + 12 h) after a beat outage.
DIGEST_CATCH_UP_SECONDS = 12 * 3600
# Overdue alerts cover tasks that fell due this recently; far below the ledger retention
# (TASKS_LEDGER_RETENTION_DAYS), so a purged ledger row never re-alerts an old task.
OVERDUE_LOOKBACK_DAYS = 7
# Items listed per section of a digest; the counts are always complete.
DIGEST_ITEM_LIMIT = 20


def _is_marked(key: str) -> bool:
    try:
        return coordination.value_get(key) is not None
    except coordination.CoordinationUnavailable:
        return False  # can't tell: scan again; the ledger still prevents duplicates


def _mark(key: str) -> None:
    try:
        coordination.value_set(key, b"1", ttl_seconds=keys.FANOUT_DONE_TTL_SECONDS)
    except coordination.CoordinationUnavailable:
        logger.warning("fan-out marker not stored key=%s", key)


def _send(
    *, subject: str, template: str, context: dict[str, Any], to: str, connection: Any
) -> None:
    text = render_to_string(f"tasks/{template}.txt", context)
    html = render_to_string(f"tasks/{template}.html", context)
    message = EmailMultiAlternatives(
        subject, text, settings.DEFAULT_FROM_EMAIL, [to], connection=connection
    )
    message.attach_alternative(html, "text/html")
    message.send()


# --------------------------------------------------------------------------- scheduling


def _zones_due(
    *, now: datetime, kind: str, local_hour: int, catch_up_seconds: int, weekday: int | None = None
) -> Iterator[tuple[list[str], ZoneInfo, date]]:
    """(zone values, zone, local today) for each user time zone whose local `local_hour` passed
    within `catch_up_seconds` (on local `weekday`, if given) and whose fan-out of `kind` for that
    local date is not marked done. The marker is set once the caller has handled the zone, so
    a fan-out that raised midway is scanned again by the next tick (the ledger still decides
    "at most once"). Local dates come from zoneinfo: DST days are 23 or 25 hours long."""
    for zone_name, zone_values in user_zone_groups().items():
        zone = zone_for(zone_name)
        today = local_date(now, zone)
        if weekday is not None and today.weekday() != weekday:
            continue
        fire_at = local_instant(today, time(local_hour), zone)
        if not fire_at <= now < fire_at + timedelta(seconds=catch_up_seconds):
            continue
        marker = keys.fanout_done_key(kind=kind, zone=zone_name, local_date=today)
        if _is_marked(marker):
            continue
        yield zone_values, zone, today
        _mark(marker)


def _chunks_enqueue(job: str, batches: Iterable[list[int]], *args: str) -> tuple[int, int]:
    """One `job(ids, *args)` message per batch, as the batches stream in; (chunks, ids).
    strict: an unpublished chunk raises, failing the tick before the zone's marker is set, so
    the next tick rescans (the ledger keeps already-sent ones from going out twice)."""
    chunks = items = 0
    for ids in batches:
        enqueue(job, ids, *args, strict=True)
        chunks += 1
        items += len(ids)
    return chunks, items


def reminders_schedule_daily(*, now: datetime | None = None) -> dict[str, int]:
    """For each time zone whose local REMINDER_LOCAL_HOUR passed within the catch-up window,
    enqueue reminder chunks for tasks due on that zone's local tomorrow."""
    now = now or timezone.now()
    counts = {"zones": 0, "chunks": 0, "tasks": 0}
    for zone_values, zone, today in _zones_due(
        now=now,
        kind="due_tomorrow",
        local_hour=settings.REMINDER_LOCAL_HOUR,
        catch_up_seconds=REMINDER_CATCH_UP_SECONDS,
    ):
        due_on = today + timedelta(days=1)
        counts["zones"] += 1
        batches = reminder_task_id_batches(
            zone_values=zone_values,
            zone=zone,
            due_on=due_on,
            batch_size=settings.REMINDER_CHUNK_SIZE,
        )
        chunks, items = _chunks_enqueue(
            "tasks.jobs.send_task_reminders_chunk", batches, due_on.isoformat(), now.isoformat()
        )
        counts["chunks"] += chunks
        counts["tasks"] += items
    logger.info("daily reminders scheduled %s", " ".join(f"{k}={v}" for k, v in counts.items()))
    return counts


def overdue_schedule_alerts(*, now: datetime | None = None) -> dict[str, int]:
    """Enqueue overdue-alert chunks for tasks that fell due in the last OVERDUE_LOOKBACK_DAYS
    and have not been alerted since their current due instant."""
    now = now or timezone.now()
    batches = overdue_task_id_batches(
        now=now,
        since=now - timedelta(days=OVERDUE_LOOKBACK_DAYS),
        batch_size=settings.REMINDER_CHUNK_SIZE,
    )
    chunks, items = _chunks_enqueue(
        "tasks.jobs.send_overdue_alerts_chunk", batches, now.isoformat()
    )
    counts = {"chunks": chunks, "tasks": items}
    logger.info("overdue alerts scheduled chunks=%s tasks=%s", counts["chunks"], counts["tasks"])
    return counts


def digests_schedule_weekly(*, now: datetime | None = None) -> dict[str, int]:
    """For each zone where it is Monday and DIGEST_LOCAL_HOUR passed within the catch-up
    window, enqueue digest chunks for last week's (Monday-Sunday local) users."""
    now = now or timezone.now()
    counts = {"zones": 0, "chunks": 0, "users": 0}
    for zone_values, _zone, today in _zones_due(
        now=now,
        kind="digest",
        local_hour=settings.DIGEST_LOCAL_HOUR,
        catch_up_seconds=DIGEST_CATCH_UP_SECONDS,
        weekday=0,
    ):
        week_start = today - timedelta(days=7)
        iso_year, iso_week, _ = week_start.isocalendar()
        counts["zones"] += 1
        batches = digest_user_id_batches(
            zone_values=zone_values,
            iso_year=iso_year,
            iso_week=iso_week,
            batch_size=settings.REMINDER_CHUNK_SIZE,
        )
        chunks, items = _chunks_enqueue(
            "tasks.jobs.send_weekly_digests_chunk", batches, week_start.isoformat(), now.isoformat()
        )
        counts["chunks"] += chunks
        counts["users"] += items
    logger.info("weekly digests scheduled %s", " ".join(f"{k}={v}" for k, v in counts.items()))
    return counts


# --------------------------------------------------------------------------- sending


def _send_task_notice(
    *,
    task: Task,
    kind: str,
    ledger_date: date,
    now: datetime,
    connection: Any,
    context: dict[str, Any],
) -> bool:
    """Insert the ledger row and send in one transaction; False if it was already sent."""
    template = (
        "reminder_due_tomorrow" if kind == TaskReminderLedger.Kind.DUE_TOMORROW else "overdue_alert"
    )
    subject = (
        f"Due tomorrow: {task.title}"
        if kind == TaskReminderLedger.Kind.DUE_TOMORROW
        else f"Overdue: {task.title}"
    )
    try:
        with transaction.atomic():
            TaskReminderLedger.objects.create(
                task=task, kind=kind, local_date=ledger_date, sent_at=now
            )
            _send(
                subject=subject,
                template=template,
                context={"task": task, "user": task.owner, **context},
                to=task.owner.email,
                connection=connection,
            )
    except IntegrityError:
        return False
    return True


def _load_active(task_ids: list[int]) -> list[Task]:
    # Primary: a task completed a moment ago must not be reminded from a lagging replica.
    return list(
        Task.objects.using("default")
        .active()
        .filter(pk__in=task_ids, due_date__isnull=False, owner__is_active=True)
        .select_related("owner")
        .order_by("pk")
    )


def _already_sent(task_ids: list[int], kind: str) -> set[tuple[int, date]]:
    rows = TaskReminderLedger.objects.using("default").filter(task_id__in=task_ids, kind=kind)
    return set(rows.values_list("task_id", "local_date"))


def reminder_send_chunk(
    *, task_ids: list[int], kind: str, due_on: date | None = None, now: datetime | None = None
) -> list[int]:
    """Send one chunk of due-tomorrow reminders (`due_on` = the local due date they were
    selected for) or overdue alerts. Tasks no longer pending/in progress, moved to another
    date, or already notified are skipped. Returns the ids whose send failed (to retry)."""
    now = now or timezone.now()
    tasks = _load_active(task_ids)
    sent = _already_sent([task.pk for task in tasks], kind)
    failed: list[int] = []
    connection = get_connection()
    for index, task in enumerate(tasks):
        due_date = task.due_date
        if due_date is None:
            continue  # _load_active excludes these; the check gives the type checker the datetime
        zone = zone_for(task.owner.timezone)
        ledger_date = local_date(due_date, zone)
        if kind == TaskReminderLedger.Kind.DUE_TOMORROW:
            if ledger_date != due_on or due_date <= now:
                continue  # moved since selection, or already due: the overdue alert covers it
        elif due_date >= now:
            continue  # due date moved into the future since selection
        if (task.pk, ledger_date) in sent:
            continue
        try:
            _send_task_notice(
                task=task,
                kind=kind,
                ledger_date=ledger_date,
                now=now,
                connection=connection,
                context={
                    # Naive local wall time: the template's date filter would convert an aware
                    # value back to settings.TIME_ZONE.
                    "due_local": due_date.astimezone(zone).replace(tzinfo=None),
                    "time_zone": zone.key,
                },
            )
        except SoftTimeLimitExceeded:
            failed.extend(t.pk for t in tasks[index:])
            logger.warning("reminder chunk hit its time limit remaining=%s", len(failed))
            break
        except Exception as exc:  # SMTP/network/template: this task is retried
            logger.warning("reminder send failed task_id=%s kind=%s error=%s", task.pk, kind, exc)
            failed.append(task.pk)
    return failed


def digest_send_chunk(
    *, user_ids: list[int], week_start: date, now: datetime | None = None
) -> list[int]:
    """Send the weekly digest covering local `week_start` (a Monday) .. Sunday to each user,
    at most once per ISO week. Returns the user ids whose send failed (to retry)."""
    now = now or timezone.now()
    iso_year, iso_week, _ = week_start.isocalendar()
    users = list(
        get_user_model()
        .objects.using("default")
        .filter(pk__in=user_ids, is_active=True)
        .order_by("pk")
    )
    done = set(
        TaskDigestLedger.objects.using("default")
        .filter(user_id__in=user_ids, iso_year=iso_year, iso_week=iso_week)
        .values_list("user_id", flat=True)
    )
    failed: list[int] = []
    connection = get_connection()
    for index, user in enumerate(users):
        if user.pk in done:
            continue
        try:
            with transaction.atomic():
                TaskDigestLedger.objects.create(
                    user=user, iso_year=iso_year, iso_week=iso_week, sent_at=now
                )
                content = digest_content_for_user(
                    user=user, week_start=week_start, now=now, item_limit=DIGEST_ITEM_LIMIT
                )
                _send(
                    subject=f"Your tasks for the week of {week_start.isoformat()}",
                    template="weekly_digest",
                    context={"user": user, "iso_week": f"{iso_year}-W{iso_week:02d}", **content},
                    to=user.email,
                    connection=connection,
                )
        except IntegrityError:
            continue
        except SoftTimeLimitExceeded:
            failed.extend(u.pk for u in users[index:])
            break
        except Exception as exc:
            logger.warning("digest send failed user_id=%s error=%s", user.pk, exc)
            failed.append(user.pk)
    return failed


def ledgers_purge(*, now: datetime | None = None, batch_size: int = 5_000) -> int:
    """Delete reminder and digest ledger rows older than TASKS_LEDGER_RETENTION_DAYS, in
    batches (short transactions, no long locks). Returns the number of rows deleted."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.TASKS_LEDGER_RETENTION_DAYS)
    deleted = 0
    for model in (TaskReminderLedger, TaskDigestLedger):
        deleted += rows_delete_in_chunks(
            model.objects.using("default").filter(sent_at__lt=cutoff), chunk_size=batch_size
        )
    logger.info("task ledgers purged rows=%s", deleted)
    return deleted
