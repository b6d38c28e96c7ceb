"""Stale entries: served at once, one refresh job per stale period, refresher re-checks."""

from __future__ import annotations

import json

import pytest

from stats import keys, services
from stats.jobs import refresh_stats_snapshot
from tests.stats.conftest import entry_computed_at, redis_raw, store_entry
from tests.waiting import wait_until

URL = "/api/stats"


@pytest.mark.django_db
def test_hundred_stale_reads_enqueue_one_refresh_job(client, orders, published):
    stale = store_entry(age_seconds=400)  # fresh for 300 s, then stale for 600 s

    responses = [client.get(URL, REMOTE_ADDR=f"10.8.0.{n}") for n in range(100)]

    assert {r.status_code for r in responses} == {200}
    assert {r["X-Cache"] for r in responses} == {"STALE"}
    assert all(r.content == stale.body for r in responses)
    assert all("max-age=0" in r["Cache-Control"] for r in responses)
    assert published == ["stats.jobs.refresh_stats_snapshot"]
    guard_ttl_ms = redis_raw().pttl(keys.REFRESH_GUARD_KEY)
    assert 0 < guard_ttl_ms <= keys.REFRESH_JOB_TIME_LIMIT_SECONDS * 1000


@pytest.mark.django_db
def test_fresh_reads_enqueue_nothing(client, orders, published):
    store_entry(age_seconds=10)

    for n in range(20):
        client.get(URL, REMOTE_ADDR=f"10.8.1.{n}")

    assert published == []


@pytest.mark.django_db
def test_refresh_job_replaces_a_stale_entry(client, orders):
    stale = store_entry(age_seconds=400)

    refresh_stats_snapshot()
    response = client.get(URL)

    assert entry_computed_at() > stale.computed_at_ms
    assert response["X-Cache"] == "HIT"
    assert json.loads(response.content)["orders_count"] == 4
    assert not redis_raw().exists(keys.LOCK_KEY)


@pytest.mark.django_db
def test_slow_refresh_never_overwrites_a_newer_entry(orders):
    slow = services.stats_compute(at_ms=services.now_ms() - 5_000)  # started earlier
    newer = store_entry(age_seconds=1)

    written = services.stats_entry_store(snapshot=slow)

    assert written is False
    assert entry_computed_at() == newer.computed_at_ms
    assert redis_raw().hget(keys.LKG_KEY, "body") == newer.body


@pytest.mark.django_db
def test_refresh_skips_while_another_process_holds_the_lock(orders):
    from core import redis as coordination

    token = coordination.lock_acquire(keys.LOCK_KEY, ttl_seconds=10)

    assert services.stats_refresh() is None
    assert entry_computed_at() is None
    assert coordination.lock_release(keys.LOCK_KEY, token)


@pytest.mark.django_db(transaction=True)
def test_stale_reads_get_the_entry_refreshed_by_a_real_worker(client, orders, eager_off):
    from celery.signals import before_task_publish

    stale = store_entry(age_seconds=400)
    names: list[str] = []

    def record(sender=None, **_):
        names.append(str(sender))

    before_task_publish.connect(record, weak=False)
    try:
        responses = [client.get(URL, REMOTE_ADDR=f"10.8.2.{n}") for n in range(20)]
    finally:
        before_task_publish.disconnect(record)
    wait_until(lambda: entry_computed_at() != stale.computed_at_ms, timeout_seconds=20)
    fresh = client.get(URL, REMOTE_ADDR="10.8.2.200")

    # The worker may finish while the reads go on: stale until then, fresh after.
    caches = [r["X-Cache"] for r in responses]
    assert caches[0] == "STALE"
    assert caches == sorted(caches, key=lambda cache: cache != "STALE")
    assert set(caches) <= {"STALE", "HIT"}
    assert names == ["stats.jobs.refresh_stats_snapshot"]
    assert entry_computed_at() > stale.computed_at_ms
    assert fresh["X-Cache"] == "HIT"
    assert json.loads(fresh.content)["orders_count"] == 4
