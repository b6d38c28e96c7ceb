"""Generation-keyed read-through caching for post pages and details.

A key carries the generations it was filled under (`posts:v1:gen:…` on the coordination
Redis); ClearPostCache bumps them, so invalidation is O(1) and never scans. The generations
are read before loading and again before filling: a slow reader that raced a bump never
writes stale data back. Redis down → the generation is unknown → read the database, no fill.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from django.core.cache import caches

from core import redis as coordination
from posts import keys

logger = logging.getLogger(__name__)

T = TypeVar("T")


def query_hash(query: Mapping[str, Any]) -> str:
    """A stable digest of a normalized query (sorted keys, values as strings)."""
    normalized = json.dumps({k: str(v) for k, v in sorted(query.items())}, separators=(",", ":"))
    return hashlib.sha256(normalized.encode()).hexdigest()[:32]


def _generations(generation_keys: Sequence[str]) -> list[int] | None:
    values = [coordination.generation_get(key) for key in generation_keys]
    return None if any(value is None for value in values) else values  # type: ignore[return-value]


def cache_fetch(
    *,
    kind: str,
    generation_keys: Sequence[str],
    query: Mapping[str, Any],
    ttl_seconds: int,
    build: Callable[[], T],
) -> T:
    """The cached value for (kind, generations, query), building and filling it on a miss."""
    generations = _generations(generation_keys)
    if generations is None:
        return build()
    key = keys.cache_key(kind=kind, generations=generations, query_hash=query_hash(query))
    cache = caches["default"]
    hit = cache.get(key)
    if hit is not None:
        return hit
    value = build()
    if _generations(generation_keys) == generations:
        cache.set(key, value, ttl_seconds)
    return value


def generations_bump(*, generation_keys: Sequence[str]) -> None:
    """Bump every generation; raises CoordinationUnavailable if any bump did not happen.

    Raising (instead of returning quietly) keeps ClearPostCache's ledger row unwritten, so
    the job's autoretry runs it again once Redis is back. Re-bumping a key that did move is
    harmless: it only invalidates once more.
    """
    for key in generation_keys:
        if coordination.generation_bump(key) is None:
            raise coordination.CoordinationUnavailable(f"generation bump failed key={key}")
