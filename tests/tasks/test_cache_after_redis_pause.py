"""A task list converges within seconds after the coordination Redis returns from a pause
(issue #13, defect 5): the bump that failed during the pause is retried in the background,
without the broker (the same Redis) and without another write in this process."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from core import redis as coordination
from deploy.dev.faultproxy import FaultProxy
from tasks.services import cache as task_cache_module
from tests.tasks.factories import TaskFactory
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def paused_coordination(settings):
    """The coordination Redis behind a fault proxy: `stall` is a SIGSTOP-like pause."""
    parts = urlsplit(settings.REDIS_URL)
    with FaultProxy(upstream=(parts.hostname or "127.0.0.1", parts.port or 6379)) as proxy:
        original = settings.REDIS_URL
        settings.REDIS_URL = parts._replace(netloc=f"127.0.0.1:{proxy.port}").geturl()
        coordination.reset_clients()
        try:
            yield proxy
        finally:
            proxy.set_mode("pass")
            settings.REDIS_URL = original
            coordination.reset_clients()
            task_cache_module._pending_user_ids.clear()


def _titles(client) -> list[str]:
    response = client.get("/api/v1/tasks")
    assert response.status_code == 200, response.content
    return sorted(row["title"] for row in response.json()["data"])


@pytest.mark.timeout(60)
def test_list_is_fresh_within_seconds_after_a_pause(paused_coordination, auth_client, user):
    TaskFactory(owner=user, title="before")
    assert _titles(auth_client) == ["before"]
    assert auth_client.get("/api/v1/tasks")["X-Cache"] == "hit"  # cached under the old gen

    paused_coordination.set_mode("stall")
    created = auth_client.post("/api/v1/tasks", {"title": "during"}, format="json")
    assert created.status_code == 201  # the write is acknowledged; its bump fails
    assert task_cache_module.task_cache_pending_user_ids() == {user.pk}

    paused_coordination.set_mode("pass")
    # No further write, no broker: only the background retry can move the generation.
    wait_until(
        lambda: not task_cache_module.task_cache_pending_user_ids(),
        timeout_seconds=10,
        interval_seconds=0.2,
    )
    assert task_cache_module.task_cache_pending_user_ids() == set()
    coordination.breaker.reset()  # this thread's own reads: no leftover breaker window
    response = auth_client.get("/api/v1/tasks")
    assert response["X-Cache"] == "fill"  # a new generation, served from Redis again
    assert _titles(auth_client) == ["before", "during"]
