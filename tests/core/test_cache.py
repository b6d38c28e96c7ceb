"""core.cache: the stable query digest and the generation-keyed read-through, against the
real coordination and cache Redis."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core.cache import caches

from core import redis as coordination
from core.cache import generation_fetch, query_hash

GEN_A = "tests:v1:gen:a"
GEN_B = "tests:v1:gen:b"


def _key(generations: list[int]) -> str:
    return f"tests:v1:entry:{'.'.join(map(str, generations))}"


def _counting(value: object) -> tuple[Callable[[], object], list[int]]:
    calls: list[int] = []

    def loader() -> object:
        calls.append(1)
        return value

    return loader, calls


def _fetch(loader: Callable[[], object]) -> tuple[object, str]:
    return generation_fetch(
        cache_alias="default",
        generation_keys=[GEN_A, GEN_B],
        build_key=_key,
        loader=loader,
        ttl_seconds=60,
    )


def test_query_hash_is_order_independent_stringly_and_32_hex():
    digest = query_hash({"page": 1, "status": "open"})
    assert digest == query_hash({"status": "open", "page": "1"})
    assert len(digest) == 32 and int(digest, 16) >= 0
    assert digest != query_hash({"page": 2, "status": "open"})
    assert query_hash({}) != digest


def test_fill_then_hit_then_any_bump_invalidates():
    loader, calls = _counting({"rows": [1, 2]})
    assert _fetch(loader) == ({"rows": [1, 2]}, "fill")
    assert _fetch(loader) == ({"rows": [1, 2]}, "hit")
    assert len(calls) == 1

    coordination.generation_bump(GEN_B)  # either generation moves the key
    assert _fetch(loader) == ({"rows": [1, 2]}, "fill")
    assert len(calls) == 2


def test_a_generation_moving_while_loading_skips_the_fill():
    before = [coordination.generation_get(GEN_A), coordination.generation_get(GEN_B)]

    def racing_loader() -> str:
        coordination.generation_bump(GEN_A)  # a write commits while the reader loads
        return "stale"

    assert _fetch(racing_loader) == ("stale", "skip")
    assert caches["default"].get(_key(before)) is None
    after = [coordination.generation_get(GEN_A), coordination.generation_get(GEN_B)]
    assert caches["default"].get(_key(after)) is None

    assert _fetch(lambda: "fresh") == ("fresh", "fill")
    assert caches["default"].get(_key(after)) == "fresh"


@pytest.mark.django_db
def test_unreadable_generations_bypass_and_never_fill(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/10"  # nothing listens on port 1
    coordination.reset_clients()
    loader, calls = _counting("from the database")
    assert _fetch(loader) == ("from the database", "bypass")
    assert _fetch(loader) == ("from the database", "bypass")
    assert len(calls) == 2
