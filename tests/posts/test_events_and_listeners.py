from __future__ import annotations

import smtplib
from datetime import timedelta

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone

from core import redis as coordination
from core.jobs import job_get
from posts import events, jobs, keys, listeners
from posts.models import ListenerRun, NotificationDelivery, Post, PostEvent
from posts.services import post_create, post_publish
from tests.factories import UserFactory
from tests.posts.factories import CategoryFactory, PostFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


class RefusingEmailBackend(BaseEmailBackend):
    """The mail server at the edge, refusing every message."""

    def send_messages(self, email_messages):
        raise smtplib.SMTPServerDisconnected("mail server went away")


def _draft(**kwargs) -> Post:
    return PostFactory(status=Post.Status.DRAFT, published_at=None, **kwargs)


def _generations(post: Post) -> list[int]:
    return [
        coordination.generation_get(k)
        for k in (
            keys.generation_post(post.pk),
            keys.generation_list(),
            keys.generation_author(post.author_id),
        )
    ]


def test_registry_reads_like_a_table_and_every_listener_has_a_job():
    assert events.REGISTRY == {
        "PostPublished": ("NotifySubscribers", "UpdateSitemap", "ClearPostCache"),
        "PostUpdated": ("UpdateSitemap", "ClearPostCache"),
    }
    listed = {name for names in events.REGISTRY.values() for name in names}
    assert listed == set(events.LISTENER_JOBS)


def test_publish_relays_every_listener_after_commit(editor, django_capture_on_commit_callbacks):
    category = CategoryFactory()
    post = _draft(author=editor, category=category)
    fan = UserFactory()
    SubscriptionFactory(user=fan, author=editor)
    before = _generations(post)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        post_publish(post_id=post.pk, by=editor)

    assert len(callbacks) == 1
    event = PostEvent.objects.get()
    assert event.relayed_at is not None
    assert set(ListenerRun.objects.filter(event=event).values_list("listener", flat=True)) == {
        "NotifySubscribers",
        "UpdateSitemap",
        "ClearPostCache",
    }
    assert [a < b for a, b in zip(before, _generations(post), strict=True)] == [True, True, True]
    assert [m.to for m in mail.outbox] == [[fan.email]]
    message = mail.outbox[0]
    assert post.title in message.subject
    assert f"/posts/{post.slug}" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and f"/posts/{post.slug}" in html


def test_redelivered_listeners_never_act_twice(editor, django_capture_on_commit_callbacks):
    post = _draft(author=editor)
    SubscriptionFactory(user=UserFactory(), author=editor)
    with django_capture_on_commit_callbacks(execute=True):
        post_publish(post_id=post.pk, by=editor)
    event = PostEvent.objects.get()
    generations = _generations(post)

    for name in events.LISTENER_JOBS.values():
        assert job_get(name).delay(event.pk).get() is False  # redelivery: the ledger says done
    events.events_relay(event_ids=[event.pk])  # a second relay of the same event

    assert len(mail.outbox) == 1
    assert _generations(post) == generations
    assert ListenerRun.objects.filter(event=event).count() == 3


def test_crash_between_commit_and_enqueue_is_delivered_by_the_sweep(editor):
    post = _draft(author=editor)
    SubscriptionFactory(user=UserFactory(), author=editor)
    # The after-commit relay never runs here (as if the process died right after COMMIT).
    post_publish(post_id=post.pk, by=editor)
    event = PostEvent.objects.get()
    assert event.relayed_at is None and not ListenerRun.objects.exists()

    assert events.events_relay_pending() == 0  # younger than the grace period: left alone
    later = timezone.now() + timedelta(seconds=events.RELAY_GRACE_SECONDS + 1)
    assert events.events_relay_pending(now=later) == 1

    event.refresh_from_db()
    assert event.relayed_at == later
    assert ListenerRun.objects.filter(event=event).count() == 3
    assert len(mail.outbox) == 1
    assert events.events_relay_pending(now=later) == 0  # nothing left


def test_a_failing_listener_affects_neither_the_others_nor_the_request(
    editor_client, editor, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "tests.posts.test_events_and_listeners.RefusingEmailBackend"
    settings.POSTS_NOTIFY_CHUNK_SIZE = 1
    SubscriptionFactory(user=UserFactory(), author=editor)

    with django_capture_on_commit_callbacks(execute=True):
        response = editor_client.post(
            "/api/v2/posts", {"title": "Hi", "publish": True}, format="json"
        )

    assert response.status_code == 201
    event = PostEvent.objects.get()
    # The other listeners acted; the failed one left the event for the sweep.
    assert set(ListenerRun.objects.values_list("listener", flat=True)) == {
        "UpdateSitemap",
        "ClearPostCache",
    }
    assert event.relayed_at is None
    delivery = NotificationDelivery.objects.get()
    assert delivery.sent_at is None and delivery.event_id == event.pk
    assert mail.outbox == []

    # The mail server is back: the sweep redelivers; only the failed listener acts.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    later = timezone.now() + timedelta(seconds=events.RELAY_GRACE_SECONDS + 1)
    assert events.events_relay_pending(now=later) == 1
    assert len(mail.outbox) == 1
    assert ListenerRun.objects.count() == 3
    assert jobs.notify_subscribers_chunk.delay(event.pk, [delivery.user_id]).get() == 0
    assert len(mail.outbox) == 1


def test_notify_fans_out_in_chunks_to_distinct_subscribers_without_the_author(editor, settings):
    settings.POSTS_NOTIFY_CHUNK_SIZE = 2
    category = CategoryFactory()
    fans = UserFactory.create_batch(4)
    for fan in fans:
        SubscriptionFactory(user=fan, author=editor)
    SubscriptionFactory(user=fans[0], category=category)  # follows both: still one email
    SubscriptionFactory(user=(category_fan := UserFactory()), category=category)
    SubscriptionFactory(user=editor, category=category)  # the author themself: no email
    SubscriptionFactory(user=UserFactory(is_active=False), author=editor)
    post = PostFactory(author=editor, category=category)
    event = PostEvent.objects.create(
        kind="PostPublished", post_id=post.pk, author_id=editor.pk, category_id=category.pk
    )

    chunks = listeners.notify_chunks(event)
    assert len(chunks) == 3
    assert [len(c) for c in chunks] == [2, 2, 1]
    assert sorted(uid for chunk in chunks for uid in chunk) == sorted(
        [f.pk for f in fans] + [category_fan.pk]
    )

    for chunk in chunks:
        listeners.notify_chunk_send(event_id=event.pk, user_ids=chunk)
    assert len(mail.outbox) == 5
    # A later event for the same post (e.g. re-published) never mails anyone twice.
    again = PostEvent.objects.create(kind="PostPublished", post_id=post.pk, author_id=editor.pk)
    assert (
        listeners.notify_chunk_send(
            event_id=again.pk, user_ids=[uid for chunk in chunks for uid in chunk]
        )
        == 0
    )
    assert len(mail.outbox) == 5


def test_post_updated_clears_caches_but_sends_no_email(editor, django_capture_on_commit_callbacks):
    post = PostFactory(author=editor)
    SubscriptionFactory(user=UserFactory(), author=editor)
    before = _generations(post)
    from posts.services import post_update

    with django_capture_on_commit_callbacks(execute=True):
        post_update(post_id=post.pk, by=editor, changes={"title": "Edited"})
    assert set(ListenerRun.objects.values_list("listener", flat=True)) == {
        "UpdateSitemap",
        "ClearPostCache",
    }
    assert all(a < b for a, b in zip(before, _generations(post), strict=True))
    assert mail.outbox == []


def test_services_refuse_members(user):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        post_create(by=user, title="x")


def test_clear_post_cache_with_redis_down_records_nothing_and_acts_on_retry(
    editor, settings, django_capture_on_commit_callbacks
):
    post = PostFactory(author=editor)
    from posts.services import post_update

    with django_capture_on_commit_callbacks(execute=False):
        post_update(post_id=post.pk, by=editor, changes={"title": "Edited"})
    event = PostEvent.objects.get()
    before = _generations(post)

    redis_url = settings.REDIS_URL
    settings.REDIS_URL = "redis://127.0.0.1:1/10"  # nothing listens there
    coordination.reset_clients()
    with pytest.raises(coordination.CoordinationUnavailable):
        listeners.listener_run_once(
            event_id=event.pk, listener="ClearPostCache", action=listeners.clear_post_cache
        )
    assert not ListenerRun.objects.filter(listener="ClearPostCache").exists()

    settings.REDIS_URL = redis_url  # Redis is back: the retry bumps and records
    coordination.reset_clients()
    assert jobs.clear_post_cache.delay(event.pk).get() is True
    assert ListenerRun.objects.filter(event=event, listener="ClearPostCache").count() == 1
    assert all(a < b for a, b in zip(before, _generations(post), strict=True))
