from __future__ import annotations

import time

import pytest
import redis

from core import redis as coordination


def test_lock_is_token_checked():
    token = coordination.lock_acquire("core:v1:test-lock", ttl_seconds=5)
    assert token
    assert coordination.lock_acquire("core:v1:test-lock", ttl_seconds=5) is None
    assert coordination.lock_release("core:v1:test-lock", "not-the-token") is False
    assert coordination.lock_release("core:v1:test-lock", token) is True
    assert coordination.lock_acquire("core:v1:test-lock", ttl_seconds=5)


def test_expired_lock_taken_by_another_is_not_released_by_the_former_holder():
    first = coordination.lock_acquire("core:v1:lk", ttl_seconds=0.05)
    time.sleep(0.1)  # let Redis expire it: the only way to show a real PX expiry
    second = coordination.lock_acquire("core:v1:lk", ttl_seconds=5)
    assert second
    assert coordination.lock_release("core:v1:lk", first) is False
    assert coordination.value_get("core:v1:lk") == second.encode()


@pytest.mark.parametrize("use_redis", [True, False])
def test_generations_start_from_epoch_ms_and_bump(settings, use_redis):
    if not use_redis:
        settings.REDIS_URL = ""
    first = coordination.generation_get("tasks:v1:gen:1")
    assert first > 1_600_000_000_000
    assert coordination.generation_bump("tasks:v1:gen:1") == first + 1
    assert coordination.generation_get("tasks:v1:gen:1") == first + 1


def test_unreachable_redis_trips_the_breaker(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    with pytest.raises(coordination.CoordinationUnavailable):
        coordination.value_get("x")
    started = time.monotonic()
    with pytest.raises(coordination.CoordinationUnavailable, match="breaker"):
        coordination.value_get("x")
    assert time.monotonic() - started < 0.01
    assert coordination.generation_get("tasks:v1:gen:1") is None  # unknown → bypass cache


def test_a_fault_on_a_client_that_reset_clients_discarded_leaves_the_breaker_closed():
    def closed_under_us(client):
        client.ping()
        coordination.reset_clients()  # another thread (a test's teardown) closes the clients
        raise redis.ConnectionError("Connection closed by server.")

    with pytest.raises(coordination.CoordinationUnavailable):
        coordination.call(closed_under_us)
    assert not coordination.breaker.is_open()

    def fails(client):
        raise redis.ConnectionError("Connection closed by server.")

    with pytest.raises(coordination.CoordinationUnavailable):
        coordination.call(fails)  # the same fault on the current client: Redis is suspect
    assert coordination.breaker.is_open()


def test_embedded_mode_helpers_work_in_process(settings):
    settings.REDIS_URL = ""
    assert coordination.counter_incr("c", 2) == 2
    assert coordination.hash_incr("h", "a", 3) == 3
    assert coordination.value_set("k", "v", nx=True) is True
    assert coordination.value_set("k", "w", nx=True) is False
    assert coordination.value_get("k") == b"v"


def test_a_full_noeviction_redis_degrades_like_an_unreachable_one(settings, tmp_path):
    """OOM on writes (noeviction at maxmemory) must fail open / bypass, never 500."""
    import redis as redis_lib

    from core.limiter import rate_limit_check
    from tests.servers import throwaway_redis

    with throwaway_redis(
        "--save",
        "",
        "--appendonly",
        "no",
        "--maxmemory",
        "2mb",
        "--maxmemory-policy",
        "noeviction",
        dir_path=str(tmp_path),
    ) as client:
        for size in (100_000, 10_000, 1_000, 100):  # fill until even small writes are refused
            with pytest.raises(redis_lib.exceptions.OutOfMemoryError):
                for index in range(1_000):
                    client.set(f"filler:{size}:{index}", b"x" * size)
        settings.REDIS_URL = (
            f"redis://127.0.0.1:{client.connection_pool.connection_kwargs['port']}/0"
        )
        coordination.reset_clients()
        with pytest.raises(coordination.CoordinationUnavailable):
            coordination.value_set("k", "v" * 10_000)  # OOM → "unavailable", not a raw error
        # every later decision is made (in process, breaker open): never an exception
        decision = rate_limit_check(scope="stats", subject="ip:192.0.2.50")
        assert decision.is_allowed and decision.is_fallback
