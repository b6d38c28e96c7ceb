"""Generation-keyed read-through caching shared by every app, with single flight on a miss.

A cache key carries the generations (coordination Redis counters, `core.redis.generation_*`)
it was filled under; a writer bumps a generation, so invalidation is O(1) and never scans.
Rules (`generation_fetch`):
- a missing generation starts from the current epoch-ms (SET NX, `generation_get`);
- an unreadable generation (Redis down) means "bypass": load from the database, never fill;
- after loading, the generations are read again and the value is stored only if none moved,
  so a slow reader that raced a committed change never writes stale data back.

Single flight: on a miss one process per key computes, holding `core:v1:flight:{alias}:{key}`
on the coordination Redis (token-checked SET NX PX for CACHE_FLIGHT_LOCK_MS, released by
compare-and-delete). The others poll the cache for the value for at most
CACHE_FLIGHT_WAIT_MS, taking the lock over if the holder let it go without filling (its
loader failed, or a generation moved). The lock is keyed by the cache key, generations
included, so a waiter only ever accepts a value filled for the generations it read. It fails
open: when the budget runs out or the coordination Redis fails, a waiter computes for itself
(a request costs at most the budget more; never an error).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import caches

from core import metrics
from core import redis as coordination

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Outcomes of `generation_fetch` (also the X-Cache header values of the views that use it).
HIT = "hit"
WAIT = "wait"
FILL = "fill"
SKIP = "skip"
BYPASS = "bypass"

# Waiters re-read the cache this often while the lock holder computes: a page computes in
# tens of milliseconds, and each poll is one GET plus one SET NX per waiter.
FLIGHT_POLL_SECONDS = 0.01


def query_hash(params: Mapping[str, Any]) -> str:
    """A stable 32-hex digest of a normalized query: keys sorted, values as strings, so
    equal queries share one entry whatever the parameter order."""
    normalized = json.dumps(
        {str(key): str(value) for key, value in params.items()},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(normalized.encode()).hexdigest()[:32]


def flight_lock_key(*, cache_alias: str, key: str) -> str:
    """The coordination key whose holder computes the entry `key` of `caches[cache_alias]`."""
    return f"core:v1:flight:{cache_alias}:{key}"


def _generations(generation_keys: Sequence[str]) -> list[int] | None:
    values = [coordination.generation_get(key) for key in generation_keys]
    known = [value for value in values if value is not None]
    return known if len(known) == len(values) else None


def generation_fetch(
    *,
    cache_alias: str,
    generation_keys: Sequence[str],
    build_key: Callable[[list[int]], str],
    loader: Callable[[], T],
    ttl_seconds: int,
) -> tuple[T, str]:
    """Return (value, outcome) for the entry `build_key(generations)` in `caches[cache_alias]`.

    outcome: "hit" (served from the cache), "wait" (served from the cache once another
    process had filled it: single flight), "fill" (loaded and stored), "skip" (loaded, not
    stored: a generation moved while loading) or "bypass" (a generation was unreadable:
    loaded, not stored). `loader` runs at most once and its exceptions propagate.
    """
    generations = _generations(generation_keys)
    if generations is None:
        return loader(), BYPASS
    key = build_key(generations)
    cache = caches[cache_alias]
    cached = cache.get(key)
    if cached is not None:
        return cached, HIT
    fill = partial(
        _load_and_fill,
        cache=cache,
        key=key,
        generation_keys=generation_keys,
        generations=generations,
        loader=loader,
        ttl_seconds=ttl_seconds,
    )
    lock_key = flight_lock_key(cache_alias=cache_alias, key=key)
    deadline = time.monotonic() + settings.CACHE_FLIGHT_WAIT_MS / 1000
    has_waited = False
    while True:
        try:
            token = coordination.lock_acquire(
                lock_key, ttl_seconds=settings.CACHE_FLIGHT_LOCK_MS / 1000
            )
        except coordination.CoordinationUnavailable:
            metrics.cache_flight(result="unavailable")
            break
        if token is not None:
            try:
                # A holder may have filled and released between our read and our lock.
                cached = cache.get(key)
                if cached is not None:
                    if not has_waited:
                        return cached, HIT
                    metrics.cache_flight(result="waited")
                    return cached, WAIT
                return fill()
            finally:
                _flight_release(lock_key, token)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            metrics.cache_flight(result="timeout")
            logger.info("cache single flight: wait budget spent, computing key=%s", key)
            break
        time.sleep(min(FLIGHT_POLL_SECONDS, remaining))
        has_waited = True
        cached = cache.get(key)
        if cached is not None:
            metrics.cache_flight(result="waited")
            return cached, WAIT
    return fill()


def _load_and_fill(
    *,
    cache: Any,
    key: str,
    generation_keys: Sequence[str],
    generations: list[int],
    loader: Callable[[], T],
    ttl_seconds: int,
) -> tuple[T, str]:
    value = loader()
    if _generations(generation_keys) != generations:
        logger.info("cache fill skipped: generation moved key=%s", key)
        return value, SKIP
    cache.set(key, value, ttl_seconds)
    return value, FILL


def _flight_release(lock_key: str, token: str) -> None:
    try:
        coordination.lock_release(lock_key, token)
    except coordination.CoordinationUnavailable:
        logger.warning("cache flight lock not released: redis down; it expires by itself")
