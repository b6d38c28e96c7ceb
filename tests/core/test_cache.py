"""core.cache: the stable query digest and the generation-keyed read-through with its single
flight, against the real coordination and cache Redis."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from django.core.cache import caches
from prometheus_client import REGISTRY

from core import redis as coordination
from core.cache import flight_lock_key, generation_fetch, query_hash
from deploy.dev.faultproxy import FaultProxy

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


# --------------------------------------------------------------------------- single flight


def _flight_count(result: str) -> float:
    return REGISTRY.get_sample_value("cache_flight_total", {"result": result}) or 0.0


def _current_key() -> str:
    generations = [coordination.generation_get(GEN_A), coordination.generation_get(GEN_B)]
    return _key([g for g in generations if g is not None])


def _fetch_concurrently(
    count: int, loader: Callable[[], object], build_key: Callable[[list[int]], str] = _key
) -> list[tuple[object, str]]:
    """`count` threads released together, each one generation_fetch of the same entry."""
    barrier = threading.Barrier(count)
    results: list[tuple[object, str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            results.append(
                generation_fetch(
                    cache_alias="default",
                    generation_keys=[GEN_A, GEN_B],
                    build_key=build_key,
                    loader=loader,
                    ttl_seconds=60,
                )
            )
        except BaseException as exc:  # surfaced in the test thread below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    if errors:
        raise errors[0]
    assert len(results) == count
    return results


def test_sixteen_concurrent_misses_compute_once_and_the_rest_wait(settings):
    settings.CACHE_FLIGHT_WAIT_MS = 10_000  # this test is about single flight, not the budget
    arrived: list[int] = []
    everyone_missed = threading.Event()
    calls: list[int] = []

    def arriving(generations: list[int]) -> str:
        arrived.append(1)  # every thread builds the key after reading the generations
        if len(arrived) == 16:
            everyone_missed.set()
        return _key(generations)

    def slow_loader() -> object:
        calls.append(1)
        # The computation outlasts the arrival of all 16: without single flight each of
        # them would miss and compute too.
        everyone_missed.wait(timeout=10)
        time.sleep(0.05)
        return {"page": 1}

    results = _fetch_concurrently(16, slow_loader, build_key=arriving)

    assert len(calls) == 1
    assert [value for value, _ in results] == [{"page": 1}] * 16
    outcomes = sorted(outcome for _, outcome in results)
    assert outcomes.count("fill") == 1
    assert set(outcomes) <= {"fill", "wait", "hit"} and outcomes.count("wait") >= 1
    assert caches["default"].get(_current_key()) == {"page": 1}
    assert not coordination.value_get(flight_lock_key(cache_alias="default", key=_current_key()))


def test_waiters_compute_for_themselves_when_the_holder_never_fills(settings):
    """A holder that died holding the lock: a miss waits out CACHE_FLIGHT_WAIT_MS, then
    computes and fills; the dead holder's lock is left to expire, never deleted."""
    settings.CACHE_FLIGHT_WAIT_MS = 30
    lock_key = flight_lock_key(cache_alias="default", key=_current_key())
    dead_token = coordination.lock_acquire(lock_key, ttl_seconds=60)
    assert dead_token is not None
    timeouts_before = _flight_count("timeout")
    loader, calls = _counting("computed unlocked")

    assert _fetch(loader) == ("computed unlocked", "fill")
    assert _fetch(loader) == ("computed unlocked", "hit")

    assert len(calls) == 1
    assert _flight_count("timeout") == timeouts_before + 1
    assert coordination.value_get(lock_key) == dead_token.encode()


def test_an_expired_holder_lock_is_taken_over_by_one_waiter(settings):
    """The holder died and its lock expires while 16 requests wait: one of them takes the
    lock over and computes, the others get its value."""
    settings.CACHE_FLIGHT_WAIT_MS = 10_000
    lock_key = flight_lock_key(cache_alias="default", key=_current_key())
    assert coordination.lock_acquire(lock_key, ttl_seconds=0.05) is not None
    loader, calls = _counting({"page": 2})

    results = _fetch_concurrently(16, loader)

    assert len(calls) == 1
    assert [value for value, _ in results] == [{"page": 2}] * 16
    outcomes = sorted(outcome for _, outcome in results)
    assert outcomes.count("fill") == 1 and set(outcomes) <= {"fill", "wait", "hit"}


def test_a_failing_holder_hands_the_computation_to_a_waiter(settings):
    """The holder's loader raises (database error): its lock is released at once and one
    waiter computes instead of everyone waiting out the budget."""
    settings.CACHE_FLIGHT_WAIT_MS = 10_000
    calls: list[int] = []
    calls_lock = threading.Lock()

    def first_call_fails() -> object:
        with calls_lock:
            calls.append(1)
            is_first = len(calls) == 1
        if is_first:
            time.sleep(0.02)  # long enough for the others to start waiting
            raise RuntimeError("database went away")
        return "second try"

    with pytest.raises(RuntimeError):
        _fetch_concurrently(4, first_call_fails)

    assert len(calls) == 2
    assert caches["default"].get(_current_key()) == "second try"


def test_a_waiter_never_takes_a_value_filled_for_an_older_generation(settings):
    """Entries and their locks are keyed by the generations read: once a writer bumps, a
    miss neither reads the old entry nor waits on the old entry's lock."""
    settings.CACHE_FLIGHT_WAIT_MS = 10_000
    assert _fetch(lambda: "before the write") == ("before the write", "fill")
    old_key = _current_key()
    coordination.lock_acquire(flight_lock_key(cache_alias="default", key=old_key), ttl_seconds=60)

    coordination.generation_bump(GEN_A)

    assert _fetch(lambda: "after the write") == ("after the write", "fill")
    assert caches["default"].get(old_key) == "before the write"
    assert _current_key() != old_key


@pytest.mark.django_db
def test_coordination_failing_after_the_generation_read_still_serves(settings):
    """The coordination Redis fails between the generation read and the lock: the request
    computes without the lock (fail open, counted) and fills nothing."""
    parts = urlsplit(settings.REDIS_URL)
    with FaultProxy(upstream=(parts.hostname or "127.0.0.1", parts.port or 6379)) as proxy:
        settings.REDIS_URL = parts._replace(netloc=f"127.0.0.1:{proxy.port}").geturl()
        coordination.reset_clients()
        unavailable_before = _flight_count("unavailable")
        loader, calls = _counting("from the database")

        def failing_after_read(generations: list[int]) -> str:
            proxy.set_mode("reset")
            return _key(generations)

        value = generation_fetch(
            cache_alias="default",
            generation_keys=[GEN_A, GEN_B],
            build_key=failing_after_read,
            loader=loader,
            ttl_seconds=60,
        )

        assert value == ("from the database", "skip")
        assert len(calls) == 1
        assert _flight_count("unavailable") == unavailable_before + 1
        # Every later request: the breaker is open, the generations unreadable → bypass.
        results = _fetch_concurrently(16, loader)
        assert results == [("from the database", "bypass")] * 16
        proxy.set_mode("pass")
