"""Public services of the tasks app (writes, cache, notifications, statistics)."""

from __future__ import annotations

from tasks.services.cache import (
    task_cache_bump,
    task_cache_bump_or_raise,
    task_cache_fetch,
    task_cache_generation,
    task_cache_pending_replay,
    task_cache_pending_user_ids,
)
from tasks.services.notifications import (
    digest_send_chunk,
    digests_schedule_weekly,
    ledgers_purge,
    overdue_schedule_alerts,
    reminder_send_chunk,
    reminders_schedule_daily,
)
from tasks.services.statistics import (
    task_statistics_cached,
    task_statistics_store_global,
    task_statistics_warm,
)
from tasks.services.tasks import task_complete, task_create, task_delete, task_update

__all__ = [
    "digest_send_chunk",
    "digests_schedule_weekly",
    "ledgers_purge",
    "overdue_schedule_alerts",
    "reminder_send_chunk",
    "reminders_schedule_daily",
    "task_cache_bump",
    "task_cache_bump_or_raise",
    "task_cache_fetch",
    "task_cache_generation",
    "task_cache_pending_replay",
    "task_cache_pending_user_ids",
    "task_complete",
    "task_create",
    "task_delete",
    "task_statistics_cached",
    "task_statistics_store_global",
    "task_statistics_warm",
    "task_update",
]
