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
from core.cache import generation_fetch
from core.jobs import enqueue
from tasks import keys

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Users whose bump failed in this process (Redis down); the next successful bump replays them.
_pending_lock = threading.Lock()
_pending_user_ids: set[int] = set()


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
    loading: not stored) or "bypass" (generation unreadable: database only); the rules are
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

    A failed bump (coordination Redis down) is not lost: the user id is kept in a
    per-process pending set that the next successful bump here replays, and a retrying
    `tasks.jobs.bump_task_cache_generation` job is enqueued for the case where no later
    bump happens in this process.
    """
    if coordination.generation_bump(keys.generation_key(user_id)) is None:
        with _pending_lock:
            _pending_user_ids.add(user_id)
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
