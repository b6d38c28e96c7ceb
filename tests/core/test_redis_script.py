"""core.redis.script: Lua scripts bound to the current coordination client, re-registered when
the client object changes, surviving a script-cache flush; the lock release uses it."""

from __future__ import annotations

import pytest
import redis as redis_lib

from core import redis as coordination

INCR_LUA = "return redis.call('INCRBY', KEYS[1], ARGV[1])"


def _run(key: str, amount: int) -> int:
    return coordination.call(lambda _r: coordination.script(INCR_LUA)(keys=[key], args=[amount]))


def test_script_runs_and_is_registered_once_per_client():
    assert _run("tests:v1:script", 2) == 2
    assert _run("tests:v1:script", 3) == 5
    first = coordination.script(INCR_LUA)
    assert coordination.script(INCR_LUA) is first
    assert first.registered_client is coordination.coordination_client()


def test_script_re_registers_when_the_client_object_changed(settings):
    old = coordination.script(INCR_LUA)
    # Same server and database, another URL: the process now holds a different client.
    settings.REDIS_URL = settings.REDIS_URL.replace("127.0.0.1", "localhost")
    current = coordination.coordination_client()
    assert current is not old.registered_client
    fresh = coordination.script(INCR_LUA)
    assert fresh.registered_client is current
    assert _run("tests:v1:script", 4) == 4


def test_script_survives_a_flushed_script_cache(settings):
    assert _run("tests:v1:script", 1) == 1
    raw = redis_lib.Redis.from_url(settings.REDIS_URL)
    try:
        raw.script_flush()  # e.g. Redis restarted: EVALSHA answers NOSCRIPT
    finally:
        raw.close()
    assert _run("tests:v1:script", 1) == 2


def test_lock_release_is_compare_and_delete_through_the_script():
    token = coordination.lock_acquire("tests:v1:lock", ttl_seconds=30)
    assert token
    assert coordination.lock_release("tests:v1:lock", "someone-else") is False
    assert coordination.lock_acquire("tests:v1:lock", ttl_seconds=30) is None
    assert coordination.lock_release("tests:v1:lock", token) is True
    assert coordination.lock_acquire("tests:v1:lock", ttl_seconds=30)


def test_script_raises_coordination_unavailable_when_redis_is_down(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/10"  # nothing listens on port 1
    coordination.reset_clients()
    with pytest.raises(coordination.CoordinationUnavailable):
        _run("tests:v1:script", 1)
    with pytest.raises(coordination.CoordinationUnavailable):
        coordination.script(INCR_LUA)  # breaker open now
