"""Publishing from a request fails fast when the broker is down (issue #13, defect 2).

kombu's reconnect loop used to sleep 2 s per publish against a refused broker (1 s against a
stalled one) even with retry=False; with two web workers the site fell to 7-10 req/s. The
bounds below are the behaviour under test (a timeout), with wide margins on both sides: the
old code takes 2 s per call, the new one at most CELERY_PUBLISH_TIMEOUT_SECONDS once.
"""

from __future__ import annotations

import time

import pytest
from celery import shared_task

from core.jobs import PublishSkipped, enqueue, publish_breaker

NOOP = "tests.core.broker_outage_noop"


@shared_task(name=NOOP)
def _noop() -> None:
    """Never executed here; only published."""


@pytest.fixture(autouse=True)
def _drop_published_noops(settings):
    """The no-op messages have no consumer here: take them off the test broker afterwards."""
    import redis

    yield
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        for raw in broker.lrange("default", 0, -1):
            if NOOP.encode() in raw:
                broker.lrem("default", 0, raw)
    finally:
        broker.close()


def _publish_three() -> tuple[list[bool], float]:
    started = time.monotonic()
    results = [enqueue(NOOP) for _ in range(3)]
    return results, time.monotonic() - started


@pytest.mark.parametrize("mode", ["refuse", "blackhole", "reset"])
def test_publish_fails_within_the_redis_budget_when_the_broker_is_down(broker_proxy, mode):
    assert enqueue(NOOP) is True  # through the proxy, broker up
    broker_proxy.set_mode(mode)
    results, elapsed = _publish_three()
    assert results == [False, False, False]
    assert elapsed < 1.0, f"three publishes took {elapsed:.2f}s against a {mode} broker"


def test_publishing_resumes_once_the_broker_is_back(broker_proxy):
    broker_proxy.set_mode("refuse")
    assert enqueue(NOOP) is False
    assert publish_breaker.is_open()
    assert enqueue(NOOP) is False  # skipped without touching the network
    with pytest.raises(PublishSkipped):
        enqueue(NOOP, strict=True)
    broker_proxy.set_mode("pass")
    publish_breaker.reset()  # the REDIS_BREAKER_SECONDS window, without waiting for it
    assert [enqueue(NOOP) for _ in range(2)][-1] is True
