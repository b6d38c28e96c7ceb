"""Generation-keyed read-through caching shared by every app.

A cache key carries the generations (coordination Redis counters, `core.redis.generation_*`)
it was filled under; a writer bumps a generation, so invalidation is O(1) and never scans.
Rules (`generation_fetch`):
- a missing generation starts from the current epoch-ms (SET NX, `generation_get`);
- an unreadable generation (Redis down) means "bypass": load from the database, never fill;
- after loading, the generations are read again and the value is stored only if none moved,
  so a slow reader that raced a committed change never writes stale data back.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from django.core.cache import caches

from core import redis as coordination

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Outcomes of `generation_fetch` (also the X-Cache header values of the views that use it).
HIT = "hit"
FILL = "fill"
SKIP = "skip"
BYPASS = "bypass"


def query_hash(params: Mapping[str, Any]) -> str:
    """A stable 32-hex digest of a normalized query: keys sorted, values as strings, so
    equal queries share one entry whatever the parameter order."""
    normalized = json.dumps(
        {str(key): str(value) for key, value in params.items()},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(normalized.encode()).hexdigest()[:32]


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

    outcome: "hit" (served from the cache), "fill" (loaded and stored), "skip" (loaded, not
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
    value = loader()
    if _generations(generation_keys) != generations:
        logger.info("cache fill skipped: generation moved key=%s", key)
        return value, SKIP
    cache.set(key, value, ttl_seconds)
    return value, FILL
