from __future__ import annotations

import time

import redis
from django.conf import settings

from monitoring import aggregates, keys


def _commands_processed() -> int:
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        return int(client.info("stats")["total_commands_processed"])
    finally:
        client.close()


def test_requests_add_no_redis_command(client):
    client.get("/api/health/live")  # warm-up: route pre-initialisation
    baseline_start = _commands_processed()
    baseline = _commands_processed() - baseline_start

    start = _commands_processed()
    for _ in range(20):
        assert client.get("/api/health/live").status_code == 200
    used = _commands_processed() - start

    assert used == baseline  # only the INFO call itself


def test_requests_are_aggregated_in_process_then_flushed_at_most_once_a_second(client):
    now = time.time()
    minute = int(now // 60)
    for _ in range(3):
        client.get("/api/health/live")
    client.get("/no-such-page")

    assert aggregates.minutes_read(first_minute=minute - 1, last_minute=minute + 1) == {}
    assert aggregates.flush(now=now) is True
    rows = aggregates.minutes_read(first_minute=minute - 1, last_minute=minute + 1)
    fields = next(iter(rows.values()))
    assert fields["requests"] == 4
    assert fields.get("errors", 0) == 0
    aggregates.record_request(status=500, duration_ms=30, now=now)
    assert aggregates.flush(now=now + 0.5) is False  # within the same second: nothing written
    assert aggregates.flush(now=now + 1.0) is True
    rows = aggregates.minutes_read(first_minute=minute - 1, last_minute=minute + 1)
    assert sum(row.get("errors", 0) for row in rows.values()) == 1


def test_429s_are_not_errors_and_latency_buckets_feed_p95():
    now = 1_800_000_000.0
    for _ in range(50):
        aggregates.record_request(status=429, duration_ms=3, now=now)
    for _ in range(10):
        aggregates.record_request(status=200, duration_ms=700, now=now)
    aggregates.flush(now=now, force=True)

    minute = int(now // 60)
    fields = aggregates.minutes_read(first_minute=minute, last_minute=minute)[minute]

    assert fields.get("errors", 0) == 0
    assert fields["rate_limited"] == 50
    assert aggregates.latency_percentile(fields, quantile=0.95) == 1000.0
    assert aggregates.latency_percentile(fields, quantile=0.5) == 10.0


def test_flushed_buckets_expire():
    now = time.time()
    aggregates.record_request(status=200, duration_ms=5, now=now)
    aggregates.flush(now=now, force=True)

    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        ttl = client.ttl(keys.aggregate_key(int(now // 60)))
    finally:
        client.close()
    assert 0 < ttl <= keys.AGGREGATE_TTL_SECONDS
