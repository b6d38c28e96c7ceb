"""Listeners through a real Celery worker (in-thread, real broker), with committed data."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.core import mail
from django.db import transaction

from config.celery import app as celery_app
from core import redis as coordination
from core.jobs import publish_breaker
from posts import events, jobs, keys, metrics
from posts.models import ListenerRun, Post, PostEvent, SitemapDocument
from posts.services import post_create, post_publish
from tests.factories import UserFactory
from tests.posts.factories import SubscriptionFactory
from tests.waiting import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.live_worker]


@pytest.fixture(autouse=True)
def _patient_redis(settings):
    """This loaded test machine can stall Redis replies past the 100 ms production timeout;
    a tripped breaker would turn coalescing off, which is not what these tests are about."""
    settings.REDIS_SOCKET_TIMEOUT_SECONDS = 2.0
    coordination.reset_clients()
    yield
    coordination.reset_clients()


@contextmanager
def _broker_unreachable() -> Iterator[None]:
    """Publishing goes to a port nothing listens on (the worker keeps its own connection)."""
    from kombu import pools

    saved = celery_app.amqp._producer_pool
    dead = pools.producers[celery_app.connection_for_write("redis://127.0.0.1:1/0")]
    dead.limit = 1
    celery_app.amqp._producer_pool = dead
    try:
        yield
    finally:
        celery_app.amqp._producer_pool = saved
        # The in-thread worker shares this process's publish breaker, which the failed publish
        # tripped; a real worker is another process. Close it as REDIS_BREAKER_SECONDS would.
        publish_breaker.reset()


def _skipped(listener: str) -> float:
    # The in-thread worker shares this process, so its metric counters are visible here.
    return metrics.LISTENER_RUNS.labels(listener=listener, outcome="skipped")._value.get()


def _sitemap_settled() -> bool:
    pending = coordination.call(lambda r: r.exists(keys.SITEMAP_PENDING))
    return not pending and not SitemapDocument.objects.filter(is_dirty=True).exists()


def test_publish_runs_each_listener_once_through_the_worker(eager_off, settings):
    settings.POSTS_SITEMAP_COALESCE_SECONDS = 1
    editor = UserFactory(role="editor")
    fan = UserFactory()
    SubscriptionFactory(user=fan, author=editor)

    post = post_create(by=editor, title="Live worker", is_published=True)

    assert wait_until(lambda: ListenerRun.objects.count() == 3 and len(mail.outbox) == 1)
    assert wait_until(_sitemap_settled)
    event = PostEvent.objects.get()
    assert event.relayed_at is not None
    assert mail.outbox[0].to == [fan.email]
    assert f"/posts/{post.slug}" in SitemapDocument.objects.exclude(name="index").get().xml

    skipped_before = _skipped("NotifySubscribers") + _skipped("ClearPostCache")
    jobs.notify_subscribers.delay(event.pk)  # redeliveries through the worker: they act not
    jobs.clear_post_cache.delay(event.pk)
    assert wait_until(
        lambda: _skipped("NotifySubscribers") + _skipped("ClearPostCache") == skipped_before + 2
    )
    assert len(mail.outbox) == 1
    assert ListenerRun.objects.count() == 3


def test_crash_between_commit_and_enqueue_is_delivered_by_the_beat_sweep(
    eager_off, monkeypatch, settings
):
    settings.POSTS_SITEMAP_COALESCE_SECONDS = 1
    editor = UserFactory(role="editor")
    SubscriptionFactory(user=UserFactory(), author=editor)
    draft = Post.objects.create(author=editor, title="Crashy", slug="crashy")

    with transaction.atomic():
        post_publish(post_id=draft.pk, by=editor)
        # The process dies right after COMMIT: its after-commit relay never runs.
        transaction.get_connection().run_on_commit.clear()

    event = PostEvent.objects.get()
    assert event.relayed_at is None
    monkeypatch.setattr(events, "RELAY_GRACE_SECONDS", 0)

    jobs.relay_pending_post_events.delay()  # the beat tick, run by the worker

    assert wait_until(lambda: ListenerRun.objects.count() == 3 and len(mail.outbox) == 1)
    assert wait_until(_sitemap_settled)
    event.refresh_from_db()
    assert event.relayed_at is not None


def test_a_burst_of_publishes_coalesces_sitemap_regenerations(eager_off, settings):
    settings.POSTS_SITEMAP_COALESCE_SECONDS = 1
    editor = UserFactory(role="editor")

    posts = [post_create(by=editor, title=f"Burst {i}", is_published=True) for i in range(100)]

    assert wait_until(lambda: ListenerRun.objects.count() == 300, timeout_seconds=60)
    assert wait_until(_sitemap_settled, timeout_seconds=30)
    xml = "".join(SitemapDocument.objects.exclude(name="index").values_list("xml", flat=True))
    assert all(f"/posts/{p.slug}<" in xml for p in posts)
    regenerations = dict(SitemapDocument.objects.values_list("name", "regenerations"))
    # 100 publishes → a handful of regenerations, not 100.
    assert regenerations["index"] <= 10, regenerations


def test_broker_unreachable_at_publish_is_delivered_by_the_beat_sweep(
    eager_off, monkeypatch, settings
):
    settings.POSTS_SITEMAP_COALESCE_SECONDS = 1
    editor = UserFactory(role="editor")
    SubscriptionFactory(user=UserFactory(), author=editor)

    with _broker_unreachable():
        post = post_create(by=editor, title="Broker away", is_published=True)

    assert Post.objects.get(pk=post.pk).is_published  # the request path did not fail
    event = PostEvent.objects.get()
    assert event.relayed_at is None and event.relay_attempts == 1
    assert not ListenerRun.objects.exists()

    monkeypatch.setattr(events, "RELAY_GRACE_SECONDS", 0)
    jobs.relay_pending_post_events.delay()  # the broker is back; the beat tick catches up

    assert wait_until(lambda: ListenerRun.objects.count() == 3 and len(mail.outbox) == 1)
    assert wait_until(_sitemap_settled)
