"""Task statistics: per-user (cached under the user's generation) and global (coordination)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from core import redis as coordination
from tasks import keys
from tasks.localtime import local_date, zone_for
from tasks.selectors import task_statistics_compute_global, task_statistics_for_user
from tasks.services.cache import task_cache, task_cache_fetch, task_cache_generation

logger = logging.getLogger(__name__)


def _stats_key_for(user: Any, now: datetime) -> Callable[[int], str]:
    day = local_date(now, zone_for(user.timezone))
    return lambda generation: keys.stats_key(user_id=user.pk, generation=generation, local_date=day)


def task_statistics_cached(*, user: Any, now: datetime | None = None) -> tuple[dict[str, Any], str]:
    """The user's statistics through the cache (TASKS_STATS_CACHE_SECONDS); (value, outcome)."""
    now = now or timezone.now()
    return task_cache_fetch(
        user_id=user.pk,
        key_for=_stats_key_for(user, now),
        loader=lambda: task_statistics_for_user(user=user, now=now),
        ttl_seconds=settings.TASKS_STATS_CACHE_SECONDS,
    )


def task_statistics_warm(*, user_id: int, now: datetime | None = None) -> str:
    """Recompute the user's statistics on the primary and store them under the current
    generation unless it moves meanwhile. Returns "fill", "skip", "bypass" or "missing"."""
    now = now or timezone.now()
    user = get_user_model().objects.using("default").filter(pk=user_id).first()
    if user is None:
        return "missing"
    generation = task_cache_generation(user_id=user_id)
    if generation is None:
        return "bypass"
    # Primary: right after a write a replica may still miss it, and this fill is under the new
    # generation (readers would trust it for an hour).
    value = task_statistics_for_user(user=user, now=now, using="default")
    if task_cache_generation(user_id=user_id) != generation:
        return "skip"
    task_cache().set(
        _stats_key_for(user, now)(generation), value, settings.TASKS_STATS_CACHE_SECONDS
    )
    return "fill"


def task_statistics_store_global(*, now: datetime | None = None) -> dict[str, Any]:
    """Compute the global statistics and store them in the coordination Redis (no TTL: the
    last value stays readable if the job stops; `computed_at` tells its age)."""
    value = task_statistics_compute_global(now=now)
    try:
        coordination.value_set(keys.GLOBAL_STATISTICS_KEY, json.dumps(value))
    except coordination.CoordinationUnavailable:
        logger.warning("global task statistics not stored: coordination down")
    return value
