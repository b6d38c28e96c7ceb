"""What each listener does for one event, guarded by the (event, listener) ledger.

Jobs in posts/jobs.py call these; each returns False when the ledger says it already acted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from core import redis as coordination
from core.jobs import enqueue
from posts import cache, keys, metrics
from posts.models import ListenerRun, NotificationDelivery, Post, PostEvent, Subscription
from posts.sitemap import sitemap_mark_dirty, sitemap_schedule_regeneration

User = get_user_model()

logger = logging.getLogger(__name__)


def _has_run(*, event_id: int, listener: str) -> bool:
    return (
        ListenerRun.objects.using("default").filter(event_id=event_id, listener=listener).exists()
    )


def _record_run(*, event_id: int, listener: str) -> None:
    try:
        with transaction.atomic(using="default"):
            ListenerRun.objects.create(event_id=event_id, listener=listener)
    except IntegrityError:
        pass  # a concurrent delivery recorded it first; the action is idempotent either way


def listener_run_once(
    *, event_id: int, listener: str, action: Callable[[PostEvent], object]
) -> bool:
    """Run `action(event)` unless the ledger shows (event, listener) already acted."""
    if _has_run(event_id=event_id, listener=listener):
        metrics.LISTENER_RUNS.labels(listener=listener, outcome="skipped").inc()
        return False
    event = PostEvent.objects.using("default").filter(pk=event_id).first()
    if event is None:
        logger.warning("post event gone listener=%s event_id=%s", listener, event_id)
        return False
    action(event)
    _record_run(event_id=event_id, listener=listener)
    metrics.LISTENER_RUNS.labels(listener=listener, outcome="done").inc()
    return True


# --------------------------------------------------------------------------- ClearPostCache


def clear_post_cache(event: PostEvent) -> None:
    """Bump the generations of the post, every list page and the author's post list (and the
    previous author list too: nothing else can move a post between authors)."""
    cache.generations_bump(
        generation_keys=[
            keys.generation_post(event.post_id),
            keys.generation_list(),
            keys.generation_author(event.author_id),
        ]
    )


# --------------------------------------------------------------------------- UpdateSitemap


def update_sitemap(event: PostEvent) -> None:
    """Mark the post's section dirty and schedule one coalesced regeneration."""
    sitemap_mark_dirty(post_ids=[event.post_id])
    sitemap_schedule_regeneration()


# --------------------------------------------------------------------------- NotifySubscribers


def subscriber_ids(*, event: PostEvent) -> list[int]:
    """Distinct subscribers of the post's author or category, minus the author, by id."""
    targets = Q(author_id=event.author_id)
    if event.category_id:
        targets |= Q(category_id=event.category_id)
    return list(
        Subscription.objects.filter(targets)
        .exclude(user_id=event.author_id)
        .filter(user__is_active=True)
        .values_list("user_id", flat=True)
        .distinct()
        .order_by("user_id")
    )


def notify_chunks(event: PostEvent) -> list[list[int]]:
    """The event's subscriber ids in chunks of POSTS_NOTIFY_CHUNK_SIZE."""
    ids = subscriber_ids(event=event)
    size = settings.POSTS_NOTIFY_CHUNK_SIZE
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def notify_fan_out(event: PostEvent) -> int:
    """Hand each chunk of subscribers to a `notify_subscribers_chunk` job. A chunk the broker
    did not take raises CoordinationUnavailable, so the listener job retries (chunks already
    sent are not mailed twice: each delivery has its own ledger row)."""
    chunks = notify_chunks(event)
    for chunk in chunks:
        if not enqueue("posts.jobs.notify_subscribers_chunk", event.pk, chunk):
            raise coordination.CoordinationUnavailable("broker unavailable for chunk")
    logger.info(
        "notify fan-out event_id=%s subscribers=%s chunks=%s",
        event.pk,
        sum(len(chunk) for chunk in chunks),
        len(chunks),
    )
    return len(chunks)


class _Recipient(Protocol):
    """What an email needs of a user (posts reads the user model through get_user_model)."""

    email: str
    name: str


def _message(*, post: Post, user: _Recipient, connection: object) -> EmailMultiAlternatives:
    context = {
        "post": post,
        "user": user,
        "post_url": f"{settings.SITE_URL.rstrip('/')}/posts/{post.slug}",
    }
    subject = render_to_string("posts/email/post_published_subject.txt", context).strip()
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("posts/email/post_published.txt", context),
        to=[user.email],
        connection=connection,
    )
    message.attach_alternative(
        render_to_string("posts/email/post_published.html", context), "text/html"
    )
    return message


def notify_chunk_send(*, event_id: int, user_ids: Sequence[int]) -> int:
    """Email one chunk of subscribers, at most once per (post, subscriber).

    Each recipient is claimed with a unique NotificationDelivery row before sending; a
    redelivered chunk only sends to rows this event claimed and never marked sent.
    Returns the number of emails sent.
    """
    event = PostEvent.objects.using("default").filter(pk=event_id).first()
    if event is None:
        return 0
    post = (
        Post.objects.using("default")
        .select_related("author")
        .filter(pk=event.post_id)
        .published()
        .first()
    )
    if post is None:
        return 0  # unpublished or deleted before we got here: nothing to announce
    NotificationDelivery.objects.bulk_create(
        [NotificationDelivery(post_id=post.pk, user_id=uid, event_id=event_id) for uid in user_ids],
        ignore_conflicts=True,
    )
    claimed = list(
        NotificationDelivery.objects.using("default")
        .filter(
            post_id=post.pk, user_id__in=list(user_ids), event_id=event_id, sent_at__isnull=True
        )
        .values_list("user_id", flat=True)
    )
    users = list(User.objects.using("default").filter(pk__in=claimed, is_active=True))
    if not users:
        return 0
    connection = get_connection()
    sent = connection.send_messages(
        [_message(post=post, user=user, connection=connection) for user in users]
    )
    NotificationDelivery.objects.filter(
        post_id=post.pk, user_id__in=[u.pk for u in users], event_id=event_id
    ).update(sent_at=timezone.now())
    logger.info("notify chunk sent event_id=%s recipients=%s", event_id, len(users))
    return int(sent or 0)
