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
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache import caches

from core import redis as coordination
from core.background import BackgroundRetry
from core.cache import generation_fetch
from core.jobs import enqueue
from tasks import keys

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Users whose bump failed in this process (Redis down); the next successful bump replays them.
_pending_lock = threading.Lock()
_pending_user_ids: set[int] = set()


# How often this process retries its pending bumps while the coordination Redis is away; the
# breaker (REDIS_BREAKER_SECONDS) spaces real attempts, so convergence takes about 2-3 s.
PENDING_RETRY_SECONDS = 0.5


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
    """Return (value, outcome) with outcome "hit", "wait" (filled by a concurrent request
    while this one waited: single flight), "fill", "skip" (generation moved while loading:
    not stored) or "bypass" (generation unreadable: database only); the rules are
    core.cache.generation_fetch's, on the user's generation."""
    return generation_fetch(
        cache_alias="default",
        generation_keys=[keys.generation_key(user_id)],
        build_key=lambda generations: key_for(generations[0]),
        loader=loader,
        ttl_seconds=ttl_seconds,
    )


def task_cache_bump(*, user_id: int) -> None:
    """After commit of any change to the user's tasks: new generation, then a debounced
    statistics re-warm on the queue. Never raises.

    A failed bump (coordination Redis down or paused) is not lost: the user id is kept in a
    per-process pending set that a background thread retries every PENDING_RETRY_SECONDS
    until Redis answers (the broker may be that same Redis, and no later write may come), and
    that the next successful bump here replays; a retrying
    `tasks.jobs.bump_task_cache_generation` job is enqueued too, for a process that exits
    before Redis is back.
    """
    if coordination.generation_bump(keys.generation_key(user_id)) is None:
        with _pending_lock:
            _pending_user_ids.add(user_id)
        pending_retry.kick()
        enqueue("tasks.jobs.bump_task_cache_generation", user_id)
        return
    task_cache_pending_replay()
    task_statistics_warm_schedule(user_id=user_id)


def task_cache_pending_user_ids() -> set[int]:
    """The users whose bump failed in this process and has not been replayed yet."""
    with _pending_lock:
        return set(_pending_user_ids)


def task_cache_pending_replay() -> int:
    """Bump every pending user's generation; ids whose bump fails again stay pending.
    Returns how many were replayed."""
    with _pending_lock:
        pending = sorted(_pending_user_ids)
        _pending_user_ids.clear()
    replayed = 0
    for index, user_id in enumerate(pending):
        if coordination.generation_bump(keys.generation_key(user_id)) is None:
            with _pending_lock:
                _pending_user_ids.update(pending[index:])
            break
        replayed += 1
    if replayed:
        logger.info("task cache pending bumps replayed count=%s", replayed)
    return replayed


def _has_pending() -> bool:
    with _pending_lock:
        return bool(_pending_user_ids)


pending_retry = BackgroundRetry(
    name="tasks-cache-bump-retry",
    replay=lambda: task_cache_pending_replay(),
    is_pending=_has_pending,
    interval_seconds=PENDING_RETRY_SECONDS,
)


def task_cache_bump_or_raise(*, user_id: int) -> int:
    """Bump the user's generation or raise CoordinationUnavailable (for the retrying job).
    Idempotent in effect: an extra bump only invalidates once more."""
    generation = coordination.generation_bump(keys.generation_key(user_id))
    if generation is None:
        raise coordination.CoordinationUnavailable(f"task cache bump failed user_id={user_id}")
    with _pending_lock:
        _pending_user_ids.discard(user_id)
    return generation


def task_statistics_warm_schedule(*, user_id: int) -> bool:
    """Enqueue one statistics re-warm per user per STATS_WARM_DEBOUNCE_SECONDS; the job runs
    at the end of the window, so a burst of writes costs one recomputation."""
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
    # Broker down: not enqueued (logged); the next read fills the cache instead.
    return enqueue(
        "tasks.jobs.warm_task_statistics", user_id, countdown=keys.STATS_WARM_DEBOUNCE_SECONDS
    )
