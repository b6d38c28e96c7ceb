"""A per-user generation bump that fails after commit (coordination Redis down) is not lost:
the next successful bump in the process replays it, and a retrying job is enqueued."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis as redis_lib

from config.celery import app as celery_app
from core import redis as coordination
from tasks import jobs, keys, services
from tasks.services import cache as task_cache_module
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

DEAD_REDIS_URL = "redis://127.0.0.1:1/10"  # nothing listens on port 1


@pytest.fixture(autouse=True)
def _no_pending() -> Iterator[None]:
    task_cache_module._pending_user_ids.clear()
    yield
    task_cache_module._pending_user_ids.clear()


def _redis_down(settings) -> str:
    url = settings.REDIS_URL
    settings.REDIS_URL = DEAD_REDIS_URL
    coordination.reset_clients()
    return url


def _redis_back(settings, url: str) -> None:
    settings.REDIS_URL = url
    coordination.reset_clients()


def _generation(user_id: int) -> int:
    return coordination.generation_get(keys.generation_key(user_id))


def test_failed_bump_is_replayed_by_the_next_successful_bump(settings):
    lost, later = UserFactory(), UserFactory()
    url = settings.REDIS_URL
    before = _generation(lost.pk)

    _redis_down(settings)
    services.task_cache_bump(user_id=lost.pk)  # never raises
    assert services.task_cache_pending_user_ids() == {lost.pk}

    _redis_back(settings, url)
    services.task_cache_bump(user_id=later.pk)
    assert _generation(lost.pk) > before
    assert services.task_cache_pending_user_ids() == set()


def test_failed_bump_enqueues_the_retrying_job(settings):
    user = UserFactory()
    _redis_down(settings)
    broker = redis_lib.Redis.from_url(settings.CELERY_BROKER_URL)

    def ours() -> list[bytes]:
        found = []
        for raw in broker.lrange("default", 0, -1):
            headers = json.loads(raw).get("headers", {})
            if headers.get("task") == "tasks.jobs.bump_task_cache_generation" and str(
                user.pk
            ) in str(headers.get("argsrepr")):
                found.append(raw)
        return found

    celery_app.conf.task_always_eager = False
    try:
        services.task_cache_bump(user_id=user.pk)
        published = ours()
        assert len(published) == 1
    finally:
        celery_app.conf.task_always_eager = True
        for raw in ours():
            broker.lrem("default", 1, raw)
        broker.close()


def test_the_job_raises_to_retry_while_down_and_bumps_once_back(settings):
    user = UserFactory()
    url = settings.REDIS_URL
    before = _generation(user.pk)
    assert coordination.CoordinationUnavailable in jobs.bump_task_cache_generation.autoretry_for

    _redis_down(settings)
    with pytest.raises(coordination.CoordinationUnavailable):
        jobs.bump_task_cache_generation.run(user.pk)

    _redis_back(settings, url)
    assert jobs.bump_task_cache_generation.delay(user.pk).get() > before
    assert _generation(user.pk) > before
