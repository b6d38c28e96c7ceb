"""Celery jobs of the stats app: the refresh on `urgent`, the long recount on `default`
(config.celery TASK_ROUTES)."""

from __future__ import annotations

import logging

from celery import shared_task

from stats import keys
from stats.services import stats_refresh

logger = logging.getLogger(__name__)


@shared_task(
    name="stats.jobs.refresh_stats_snapshot",
    soft_time_limit=keys.REFRESH_JOB_SOFT_TIME_LIMIT_SECONDS,
    time_limit=keys.REFRESH_JOB_TIME_LIMIT_SECONDS,
    ignore_result=True,
)
def refresh_stats_snapshot() -> None:
    """Recompute the stats entry (beat, ahead of expiry; or once per stale period).

    Idempotent: under the compute lock, and the store never replaces a newer entry. No
    retry: the next beat tick or stale read schedules another run; a database error is
    raised so the worker logs it.
    """
    snapshot = stats_refresh()
    if snapshot is not None:
        logger.info("stats refreshed computed_at_ms=%s", snapshot.computed_at_ms)


@shared_task(
    name="stats.jobs.reconcile_stats_counters",
    soft_time_limit=540,
    time_limit=600,
    ignore_result=True,
)
def reconcile_stats_counters() -> None:
    """Recount on a replica and correct the sharded counters (only with STATS_SOURCE=counters).

    Idempotent: the correction is the difference at one snapshot, under a Redis lock.
    """
    from django.conf import settings

    from stats.counters import counters_reconcile

    if settings.STATS_SOURCE != "counters":
        return
    counters_reconcile()
