"""Generation-keyed read-through caching for post pages and details.

A key carries the generations it was filled under (`posts:v1:gen:…` on the coordination
Redis); ClearPostCache bumps them, so invalidation is O(1) and never scans. The generations
are read before loading and again before filling: a slow reader that raced a bump never
writes stale data back. Redis down → the generation is unknown → read the database, no fill.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from core import redis as coordination
from core.cache import generation_fetch, query_hash
from posts import keys

logger = logging.getLogger(__name__)

T = TypeVar("T")


def cache_fetch(
    *,
    kind: str,
    generation_keys: Sequence[str],
    query: Mapping[str, Any],
    ttl_seconds: int,
    build: Callable[[], T],
) -> T:
    """The cached value for (kind, generations, query), building and filling it on a miss
    (core.cache.generation_fetch on the `default` alias: one build per key at a time,
    concurrent misses wait briefly for its entry)."""
    digest = query_hash(query)
    value, _outcome = generation_fetch(
        cache_alias="default",
        generation_keys=generation_keys,
        build_key=lambda generations: keys.cache_key(
            kind=kind, generations=generations, query_hash=digest
        ),
        loader=build,
        ttl_seconds=ttl_seconds,
    )
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
