"""Per-user cache generations for task lists and statistics.

Keys carry the user's generation (`tasks:v1:gen:{user_id}`, coordination Redis); every
committed change bumps it, so invalidation is O(1) and needs no tag sets. Values live in the
`default` cache alias (disposable). Rules:
- a missing generation starts from the current epoch-ms (SET NX, core.redis.generation_get);
- an unreadable generation means "bypass": read the database, don't fill;
- a reader re-reads the generation after loading and skips the fill if it moved, so a slow
  reader never writes back data older than a committed change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache import caches

from core import redis as coordination
from tasks import keys

logger = logging.getLogger(__name__)

T = TypeVar("T")


def task_cache() -> Any:
    return caches["default"]


def task_cache_generation(*, user_id: int) -> int | None:
    """The user's current generation; None when the coordination Redis can't be read."""
    return coordination.generation_get(keys.generation_key(user_id))


def task_cache_fetch(
    *,
    user_id: int,
    key_for: Callable[[int], str],
    loader: Callable[[], T],
    ttl_seconds: int,
) -> tuple[T, str]:
    """Return (value, outcome) with outcome "hit", "fill", "skip" (generation moved while
    loading: not stored) or "bypass" (generation unreadable: database only)."""
    generation = task_cache_generation(user_id=user_id)
    if generation is None:
        return loader(), "bypass"
    key = key_for(generation)
    cached = task_cache().get(key)
    if cached is not None:
        return cached, "hit"
    value = loader()
    if task_cache_generation(user_id=user_id) != generation:
        logger.info("task cache fill skipped: generation moved user_id=%s", user_id)
        return value, "skip"
    task_cache().set(key, value, ttl_seconds)
    return value, "fill"


def task_cache_bump(*, user_id: int) -> None:
    """After commit of any change to the user's tasks: new generation, then a debounced
    statistics re-warm on the queue. Never raises (a Redis fault only costs cache misses)."""
    if coordination.generation_bump(keys.generation_key(user_id)) is None:
        return
    task_statistics_warm_schedule(user_id=user_id)


def task_statistics_warm_schedule(*, user_id: int) -> bool:
    """Enqueue one statistics re-warm per user per STATS_WARM_DEBOUNCE_SECONDS; the job runs
    at the end of the window, so a burst of writes costs one recomputation."""
    from tasks.jobs import warm_task_statistics

    try:
        is_first = coordination.value_set(
            keys.stats_warm_key(user_id),
            b"1",
            ttl_seconds=keys.STATS_WARM_DEBOUNCE_SECONDS,
            nx=True,
        )
    except coordination.CoordinationUnavailable:
        return False  # readers fill the cache themselves
    if not is_first:
        return False
    try:
        warm_task_statistics.apply_async(
            args=[user_id], countdown=keys.STATS_WARM_DEBOUNCE_SECONDS, retry=False
        )
    except Exception as exc:  # broker down: the next read fills the cache instead
        logger.warning("statistics warm not enqueued user_id=%s error=%s", user_id, exc)
        return False
    return True
