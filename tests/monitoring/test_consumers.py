"""A running worker heartbeats the queues it consumes, and health counts it (issue #13,
defect 7: health said the queue was `ok` when no worker consumed it)."""

from __future__ import annotations

import pytest

from config.celery import QUEUES
from monitoring import consumers, health

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_live_worker_counts_as_a_consumer_until_it_shuts_down(live_worker, client):
    """The in-thread test worker sends no worker_ready (a `celery worker` process does, see
    tests/core/test_worker_broker_restart.py): hand its consumer to the receiver directly."""
    consumers.start_consumer_heartbeat(sender=live_worker.consumer)
    try:
        assert consumers.heartbeat.queues == sorted(QUEUES)
        consumers.heartbeat.beat_once()  # the autouse flush may have run after the first beat
        health.health_cache_clear()
        body = client.get("/api/health").json()
        assert body["services"]["queue"] == "ok"
        assert all(body["metrics"]["consumers"][queue] >= 1 for queue in QUEUES)
    finally:
        consumers.stop_consumer_heartbeat()
    health.health_cache_clear()
    assert client.get("/api/health").json()["services"]["queue"] == "down"


def test_without_a_worker_heartbeat_the_queue_is_down(client):
    health.health_cache_clear()
    body = client.get("/api/health").json()
    assert body["services"]["queue"] == "down"
    assert body["metrics"]["consumers"] == {queue: 0 for queue in QUEUES}
