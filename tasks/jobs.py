"""Celery jobs of the tasks app. Names match config/celery.py TASK_ROUTES: the beat fan-outs
(`schedule_*`) → `default`, `*reminder*` → `reminders`, `send_overdue_alert*` → `urgent`,
everything else → `default`. `reminders` and `urgent` carry only short chunk jobs, so a dead
worker's chunk is redelivered after their short visibility timeout (config/broker.py)."""

from __future__ import annotations

import logging
import random
from datetime import date, datetime
from typing import Any

from celery import Task, shared_task

from core import redis as coordination
from tasks import services

logger = logging.getLogger(__name__)

# A send is tried 3 times in all (first try + 2 retries) before it is logged as failed.
SEND_MAX_RETRIES = 2
SEND_RETRY_JITTER_SECONDS = 10
# One chunk (REMINDER_CHUNK_SIZE emails over a reused SMTP connection) must finish in 60 s.
CHUNK_SOFT_TIME_LIMIT_SECONDS = 55
CHUNK_TIME_LIMIT_SECONDS = 60


def _parse_now(now_iso: str | None) -> datetime | None:
    return datetime.fromisoformat(now_iso) if now_iso else None


def _backoff_base_seconds(retries: int) -> int:
    # 30 s, 60 s, ... capped at 5 min.
    delay: int = min(30 * 2**retries, 300)
    return delay


def _backoff_seconds(retries: int) -> int:
    # With jitter, so retried chunks don't arrive together.
    return _backoff_base_seconds(retries) + random.randint(0, SEND_RETRY_JITTER_SECONDS)


# The longest retry countdown a chunk can get (70 s, before the last retry). A worker holds a
# retried message unacknowledged until it is due, so the visibility timeout of the chunk's
# queue must exceed this plus the chunk's hard limit (tests/core/test_project_wiring.py).
SEND_RETRY_MAX_COUNTDOWN_SECONDS = (
    _backoff_base_seconds(SEND_MAX_RETRIES - 1) + SEND_RETRY_JITTER_SECONDS
)


def _retry_or_log(
    job: Task[Any, Any], failed: list[int], *, what: str, args: tuple[Any, ...]
) -> None:
    if not failed:
        return
    if job.request.retries < SEND_MAX_RETRIES:
        raise job.retry(args=args, countdown=_backoff_seconds(job.request.retries))
    logger.error("%s failed permanently after %s tries ids=%s", what, SEND_MAX_RETRIES + 1, failed)


@shared_task(name="tasks.jobs.schedule_daily_reminders", soft_time_limit=240, time_limit=300)
def schedule_daily_reminders(now_iso: str | None = None) -> dict[str, int]:
    """Beat tick (every 5 min): fan out tomorrow's reminders for zones whose local 09:00 passed."""
    return services.reminders_schedule_daily(now=_parse_now(now_iso))


@shared_task(
    bind=True,
    name="tasks.jobs.send_task_reminders_chunk",
    acks_late=True,
    soft_time_limit=CHUNK_SOFT_TIME_LIMIT_SECONDS,
    time_limit=CHUNK_TIME_LIMIT_SECONDS,
)
def send_task_reminders_chunk(
    self: Task[Any, Any], task_ids: list[int], due_on: str, now_iso: str | None = None
) -> int:
    """Send due-tomorrow reminders for one chunk of task ids; a repeat sends nothing twice."""
    failed = services.reminder_send_chunk(
        task_ids=task_ids,
        kind="due_tomorrow",
        due_on=date.fromisoformat(due_on),
        now=_parse_now(now_iso),
    )
    _retry_or_log(self, failed, what="task reminders", args=(failed, due_on, now_iso))
    return len(task_ids) - len(failed)


@shared_task(name="tasks.jobs.schedule_overdue_alerts", soft_time_limit=240, time_limit=300)
def schedule_overdue_alerts(now_iso: str | None = None) -> dict[str, int]:
    """Hourly: fan out overdue alerts (on the urgent queue) for tasks that fell due."""
    return services.overdue_schedule_alerts(now=_parse_now(now_iso))


@shared_task(
    bind=True,
    name="tasks.jobs.send_overdue_alerts_chunk",
    acks_late=True,
    soft_time_limit=CHUNK_SOFT_TIME_LIMIT_SECONDS,
    time_limit=CHUNK_TIME_LIMIT_SECONDS,
)
def send_overdue_alerts_chunk(
    self: Task[Any, Any], task_ids: list[int], now_iso: str | None = None
) -> int:
    """Send overdue alerts for one chunk of task ids; a repeat sends nothing twice."""
    failed = services.reminder_send_chunk(
        task_ids=task_ids, kind="overdue", now=_parse_now(now_iso)
    )
    _retry_or_log(self, failed, what="overdue alerts", args=(failed, now_iso))
    return len(task_ids) - len(failed)


@shared_task(name="tasks.jobs.schedule_weekly_digests", soft_time_limit=240, time_limit=300)
def schedule_weekly_digests(now_iso: str | None = None) -> dict[str, int]:
    """Every 15 min: fan out last week's digests for zones where Monday 08:00 just passed."""
    return services.digests_schedule_weekly(now=_parse_now(now_iso))


@shared_task(
    bind=True,
    name="tasks.jobs.send_weekly_digests_chunk",
    acks_late=True,
    soft_time_limit=CHUNK_SOFT_TIME_LIMIT_SECONDS,
    time_limit=CHUNK_TIME_LIMIT_SECONDS,
)
def send_weekly_digests_chunk(
    self: Task[Any, Any], user_ids: list[int], week_start: str, now_iso: str | None = None
) -> int:
    """Send one chunk of weekly digests; at most one per user per ISO week."""
    failed = services.digest_send_chunk(
        user_ids=user_ids, week_start=date.fromisoformat(week_start), now=_parse_now(now_iso)
    )
    _retry_or_log(self, failed, what="weekly digests", args=(failed, week_start, now_iso))
    return len(user_ids) - len(failed)


@shared_task(name="tasks.jobs.compute_global_task_statistics", soft_time_limit=240, time_limit=300)
def compute_global_task_statistics() -> dict[str, Any]:
    """Every 6 h: global task statistics into the coordination Redis."""
    return services.task_statistics_store_global()


@shared_task(name="tasks.jobs.warm_task_statistics", soft_time_limit=25, time_limit=30)
def warm_task_statistics(user_id: int) -> str:
    """Debounced after a write: recompute the user's statistics into the cache."""
    return services.task_statistics_warm(user_id=user_id)


@shared_task(name="tasks.jobs.purge_task_ledgers", soft_time_limit=240, time_limit=300)
def purge_task_ledgers() -> int:
    """Daily: delete ledger rows older than TASKS_LEDGER_RETENTION_DAYS."""
    return services.ledgers_purge()


@shared_task(
    name="tasks.jobs.bump_task_cache_generation",
    autoretry_for=(coordination.CoordinationUnavailable,),
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=10,
)
def bump_task_cache_generation(user_id: int) -> int:
    """Retry a per-user cache generation bump that failed after commit (Redis was down).
    Returns the new generation; raises CoordinationUnavailable (→ autoretry, backoff capped at
    5 min) while the coordination Redis is still unreachable."""
    return services.task_cache_bump_or_raise(user_id=user_id)
