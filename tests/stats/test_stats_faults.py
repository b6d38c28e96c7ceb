"""Redis or the database unreachable: degrade, never 500."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from core import redis as coordination
from stats import keys
from tests.stats.conftest import database_down, redis_raw, store_entry

URL = "/api/stats"


@pytest.fixture
def redis_dead(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/10"
    coordination.reset_clients()
    yield
    coordination.reset_clients()


def _fail_open_count() -> float:
    return REGISTRY.get_sample_value("limiter_fail_open_total", {"scope": "stats"}) or 0.0


@pytest.mark.django_db
def test_redis_unreachable_computes_in_process_then_serves_the_copy(client, orders, redis_dead):
    before = _fail_open_count()

    first = client.get(URL)
    second = client.get(URL)

    assert first.status_code == 200 and first["X-Cache"] == "MISS"
    assert second.status_code == 200 and second["X-Cache"] == "HIT"
    assert second.content == first.content
    assert _fail_open_count() == before + 2


@pytest.mark.django_db
def test_redis_unreachable_limiter_fails_open_to_the_same_policy_in_process(
    client, orders, redis_dead, settings
):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "stats": "2/h"}

    statuses = [client.get(URL, REMOTE_ADDR="198.51.100.20").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


@pytest.mark.django_db
def test_embedded_mode_without_redis_serves_in_process(client, orders, settings):
    settings.REDIS_URL = ""
    coordination.reset_clients()

    first = client.get(URL)
    second = client.get(URL, HTTP_IF_NONE_MATCH=first["ETag"])

    assert first.status_code == 200 and first["X-Cache"] == "MISS"
    assert second.status_code == 304


@pytest.mark.django_db(transaction=True)
def test_database_unreachable_with_a_stale_entry_serves_it(client, orders):
    stale = store_entry(age_seconds=400)

    with database_down():
        response = client.get(URL)
        with pytest.raises(Exception) as failure:
            from stats.jobs import refresh_stats_snapshot

            refresh_stats_snapshot()

    assert response.status_code == 200
    assert response["X-Cache"] == "STALE"
    assert response.content == stale.body
    assert "OperationalError" in type(failure.value).__name__
    assert not redis_raw().exists(keys.LOCK_KEY)


@pytest.mark.django_db(transaction=True)
def test_database_unreachable_after_entry_expired_serves_lkg(client, orders):
    lkg = store_entry(age_seconds=2000)
    redis_raw().delete(keys.ENTRY_KEY)

    with database_down():
        response = client.get(URL)

    assert response.status_code == 200
    assert response["X-Cache"] == "LKG"
    assert response.content == lkg.body
    assert "max-age=0" in response["Cache-Control"]


@pytest.mark.django_db(transaction=True)
def test_database_and_redis_down_with_a_process_copy_serve_it(client, orders, settings):
    warm = client.get(URL)
    settings.REDIS_URL = "redis://127.0.0.1:1/10"
    coordination.reset_clients()
    from stats import services

    services.process_copy.clear()  # keep only an old copy: stale by 100 s
    services.process_copy.offer(
        services.Snapshot(
            body=warm.content,
            etag=warm["ETag"],
            computed_at_ms=services.now_ms() - 400_000,
            fresh_until_ms=services.now_ms() - 100_000,
        )
    )

    with database_down():
        response = client.get(URL)

    assert response.status_code == 200
    assert response["X-Cache"] == "STALE"
    assert response.content == warm.content
