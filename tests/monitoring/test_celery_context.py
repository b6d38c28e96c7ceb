from __future__ import annotations

import json
import time

import pytest
import redis
from celery import shared_task
from django.conf import settings

from config.celery import app as celery_app
from core import redis as coordination
from core.context import request_id_var
from monitoring import keys
from monitoring.jobs import refresh_gauges
from tests.waiting import wait_until


@shared_task(name="tests.monitoring.capture_request_id")
def capture_request_id(key: str) -> None:
    coordination.value_set(key, request_id_var.get(), ttl_seconds=60)


def test_published_message_carries_the_request_id_header():
    queue = "mon-header-test"
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    token = request_id_var.set("req-publish-0001")
    celery_app.conf.task_always_eager = False
    try:
        refresh_gauges.apply_async(queue=queue)
        raw = broker.lpop(queue)
    finally:
        celery_app.conf.task_always_eager = True
        request_id_var.reset(token)
        broker.delete(queue)
        broker.close()

    message = json.loads(raw)
    assert message["headers"]["request_id"] == "req-publish-0001"
    assert message["headers"]["task"] == "monitoring.jobs.refresh_gauges"


@pytest.mark.django_db(transaction=True)
def test_job_runs_with_the_request_id_of_its_publisher_and_beat_success_is_recorded(eager_off):
    key = "monitoring:test:captured-request-id"
    token = request_id_var.set("req-worker-0002")
    try:
        capture_request_id.delay(key)
        refresh_gauges.delay()
    finally:
        request_id_var.reset(token)

    def beat_success() -> bytes | None:
        return coordination.call(
            lambda r: r.hget(keys.BEAT_SUCCESS_KEY, "monitoring-refresh-gauges")
        )

    wait_until(
        lambda: coordination.value_get(key) is not None and beat_success() is not None,
        timeout_seconds=20,
    )
    captured, beat = coordination.value_get(key), beat_success()
    assert captured == b"req-worker-0002"
    assert beat is not None and abs(float(beat) - time.time()) < 60
    assert coordination.value_get(keys.SNAPSHOT_KEY) is not None
