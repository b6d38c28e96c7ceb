"""Cold misses under load: one computation, everyone else waits, then LKG or 503."""

from __future__ import annotations

import pytest

from core import redis as coordination
from stats import keys
from tests.stats.conftest import (
    AGGREGATE_FRAGMENT,
    database_down,
    entry_computed_at,
    redis_raw,
    run_concurrently,
    store_entry,
)

URL = "/api/stats"


def _get(index: int, client) -> tuple[int, str, str]:
    # A distinct client IP per request: this test is about the entry, not the limiter.
    response = client.get(URL, REMOTE_ADDR=f"10.9.{index // 250}.{index % 250}")
    return response.status_code, response.get("X-Cache", ""), response.get("Retry-After", "")


@pytest.mark.django_db(transaction=True)
def test_cold_burst_reaches_the_database_with_exactly_two_statements(orders):
    results, counter = run_concurrently(requests=200, threads=32, request=_get)

    aggregates = counter.matching(AGGREGATE_FRAGMENT)
    assert len(aggregates) == 2, aggregates
    assert any("accounts_user" in sql for sql in aggregates)
    assert any("SUM" in sql and "stats_order" in sql for sql in aggregates)
    assert all(status in (200, 503) for status, _, _ in results)
    assert all(retry == "1" for status, _, retry in results if status == 503)
    assert sum(1 for status, _, _ in results if status == 200) >= 1
    assert sum(1 for _, cache, _ in results if cache == "MISS") == 1
    assert not redis_raw().exists(keys.LOCK_KEY)


@pytest.mark.django_db(transaction=True)
def test_entry_deleted_under_load_serves_lkg_then_recomputes_once(orders):
    lkg = store_entry(age_seconds=2000)  # entry long gone; the LKG survives (24 h)
    redis_raw().delete(keys.ENTRY_KEY)
    # Another process is computing (holds the lock) and is slower than the 300 ms wait.
    foreign = coordination.lock_acquire(keys.LOCK_KEY, ttl_seconds=30)
    assert foreign is not None

    during, counter_during = run_concurrently(requests=32, threads=16, request=_get)
    coordination.lock_release(keys.LOCK_KEY, foreign)
    after, counter_after = run_concurrently(requests=64, threads=16, request=_get)

    assert {(status, cache) for status, cache, _ in during} == {(200, "LKG")}
    assert counter_during.matching(AGGREGATE_FRAGMENT) == []
    assert len(counter_after.matching(AGGREGATE_FRAGMENT)) == 2
    assert [cache for _, cache, _ in after].count("MISS") == 1
    assert all(status == 200 for status, _, _ in after)
    assert entry_computed_at() > lkg.computed_at_ms


@pytest.mark.django_db(transaction=True)
def test_failing_lock_holder_releases_the_lock_and_next_request_recomputes(client, orders):
    with database_down():
        failed = client.get(URL)
        lock_after_failure = redis_raw().exists(keys.LOCK_KEY)

    recovered = client.get(URL)

    # Nothing to serve (no LKG yet): 503, never 500; the lock is gone at once.
    assert failed.status_code == 503
    assert failed["Retry-After"] == "1"
    assert failed["Cache-Control"] == "no-store"
    assert failed["Content-Type"] == "application/problem+json"
    assert lock_after_failure == 0
    assert recovered.status_code == 200
    assert recovered["X-Cache"] == "MISS"


@pytest.mark.django_db
def test_crashed_holder_lock_expires_by_itself(settings):
    token = coordination.lock_acquire(keys.LOCK_KEY, ttl_seconds=settings.STATS_LOCK_SECONDS)

    ttl_ms = redis_raw().pttl(keys.LOCK_KEY)

    assert token is not None
    assert 0 < ttl_ms <= settings.STATS_LOCK_SECONDS * 1000
