"""Per-user cache generations: invalidation after commit, the fill-skip rule, bypass when the
coordination Redis is unreadable, debounced statistics re-warm, warm_task_cache."""

from __future__ import annotations

import time

import pytest
import redis as redis_lib
from django.conf import settings
from django.core.management import call_command

from core import redis as coordination
from tasks import keys, services
from tasks.models import Task
from tasks.services.cache import task_cache
from tests.tasks.factories import TaskFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _titles(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["title"] for row in response.json()["data"]]


def test_missing_generation_starts_from_epoch_ms(user):
    before_ms = int(time.time() * 1000)
    generation = services.task_cache_generation(user_id=user.pk)
    raw = redis_lib.Redis.from_url(settings.REDIS_URL).get(f"tasks:v1:gen:{user.pk}")
    assert int(raw) == generation
    assert before_ms <= generation <= int(time.time() * 1000)


def test_list_is_cached_then_every_write_invalidates(auth_client, user):
    task = TaskFactory(owner=user, title="first")
    assert auth_client.get("/api/v1/tasks")["X-Cache"] == "fill"
    cached = auth_client.get("/api/v1/tasks")
    assert cached["X-Cache"] == "hit"
    assert _titles(cached) == ["first"]

    writes = [
        lambda: auth_client.post("/api/v1/tasks", {"title": "second"}, format="json"),
        lambda: auth_client.patch(f"/api/v1/tasks/{task.pk}", {"title": "renamed"}, format="json"),
        lambda: auth_client.post(f"/api/v1/tasks/{task.pk}/complete"),
        lambda: auth_client.delete(f"/api/v1/tasks/{task.pk}"),
    ]
    for write in writes:
        generation = services.task_cache_generation(user_id=user.pk)
        assert write().status_code in (200, 201, 204)
        assert services.task_cache_generation(user_id=user.pk) > generation
        response = auth_client.get("/api/v1/tasks")
        assert response["X-Cache"] == "fill"  # never a stale hit right after one's own write
        expected = sorted(Task.objects.filter(owner=user).values_list("title", flat=True))
        assert sorted(_titles(response)) == expected


def test_other_users_writes_do_not_invalidate(auth_client, user, other_user):
    TaskFactory(owner=user)
    auth_client.get("/api/v1/tasks")
    services.task_create(owner=other_user, data={"title": "theirs"})
    assert auth_client.get("/api/v1/tasks")["X-Cache"] == "hit"


def test_reader_that_loaded_under_an_old_generation_does_not_fill(user):
    task = TaskFactory(owner=user, title="before")

    def slow_loader() -> list[str]:
        titles = list(Task.objects.filter(owner=user).values_list("title", flat=True))
        # A write commits while this reader holds its (now stale) result.
        services.task_update(task=task, data={"title": "after"})
        return titles

    key_for = lambda generation: keys.list_key(  # noqa: E731
        user_id=user.pk, generation=generation, query_hash="race"
    )
    stale, outcome = services.task_cache_fetch(
        user_id=user.pk, key_for=key_for, loader=slow_loader, ttl_seconds=60
    )
    assert (stale, outcome) == (["before"], "skip")
    generation = services.task_cache_generation(user_id=user.pk)
    assert task_cache().get(key_for(generation)) is None

    fresh, outcome = services.task_cache_fetch(
        user_id=user.pk,
        key_for=key_for,
        loader=lambda: list(Task.objects.filter(owner=user).values_list("title", flat=True)),
        ttl_seconds=60,
    )
    assert (fresh, outcome) == (["after"], "fill")


def test_unreadable_generation_bypasses_the_cache(auth_client, user, settings):
    TaskFactory(owner=user, title="from the database")
    settings.REDIS_URL = "redis://127.0.0.1:1/10"  # nothing listens on port 1
    coordination.reset_clients()
    response = auth_client.get("/api/v1/tasks")
    assert response["X-Cache"] == "bypass"
    assert _titles(response) == ["from the database"]
    cache_db = redis_lib.Redis.from_url(settings.REDIS_CACHE_URL)
    assert not [k for k in cache_db.keys("*") if b"tasks:v1:list" in k]


def test_statistics_are_rewarmed_once_per_debounce_window(auth_client, user):
    auth_client.post("/api/v1/tasks", {"title": "one"}, format="json")
    # The write's after-commit bump enqueued the warm job (eager here): the next read hits.
    first = auth_client.get("/api/v1/tasks/statistics")
    assert first["X-Cache"] == "hit"
    assert first.json()["data"]["total"] == 1

    auth_client.post("/api/v1/tasks", {"title": "two"}, format="json")
    # Same debounce window: no second warm job, so this read fills (and is still correct).
    second = auth_client.get("/api/v1/tasks/statistics")
    assert second["X-Cache"] == "fill"
    assert second.json()["data"]["total"] == 2


def test_warm_task_cache_command_for_one_user_and_all(user, other_user):
    TaskFactory(owner=user)
    TaskFactory(owner=other_user)
    call_command("warm_task_cache", "--user", str(user.pk))
    _, outcome = services.task_statistics_cached(user=user)
    assert outcome == "hit"
    _, outcome = services.task_statistics_cached(user=other_user)
    assert outcome == "fill"
    task_cache().clear()
    call_command("warm_task_cache")
    assert services.task_statistics_cached(user=user)[1] == "hit"
    assert services.task_statistics_cached(user=other_user)[1] == "hit"


def test_query_counts_of_a_cached_and_an_uncached_list_page(
    auth_client, user, django_assert_num_queries
):
    TaskFactory(owner=user)
    with django_assert_num_queries(3):  # JWT user, COUNT for the page meta, the page
        assert auth_client.get("/api/v1/tasks")["X-Cache"] == "fill"
    # Warm: the user's access state and the page both come from Redis (accounts.auth_cache).
    with django_assert_num_queries(0):
        assert auth_client.get("/api/v1/tasks")["X-Cache"] == "hit"


def test_default_and_explicit_page_size_share_one_entry(auth_client, user, settings):
    TaskFactory(owner=user, title="only")
    assert auth_client.get("/api/v1/tasks")["X-Cache"] == "fill"
    same = auth_client.get(f"/api/v1/tasks?page_size={settings.API_PAGE_SIZE}&page=01")
    assert same["X-Cache"] == "hit"
    assert _titles(same) == ["only"]
    assert auth_client.get("/api/v1/tasks?page_size=5")["X-Cache"] == "fill"
    assert auth_client.get("/api/v1/tasks?page_size=abc").status_code == 400
