"""Domain events of posts and who listens to them.

An event is a `PostEvent` row written in the same transaction as the change. After commit
the relay enqueues one job per listener; the beat sweep (`relay_pending_post_events`)
re-enqueues events whose relay never completed. Each listener records (event, listener) in
the `ListenerRun` ledger, so a redelivery or a retry never acts twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.jobs import enqueue
from posts.models import Post, PostEvent

logger = logging.getLogger(__name__)

PostPublished = PostEvent.Kind.PUBLISHED
PostUpdated = PostEvent.Kind.UPDATED

NotifySubscribers = "NotifySubscribers"
UpdateSitemap = "UpdateSitemap"
ClearPostCache = "ClearPostCache"

# event          → listeners (each runs as its own Celery job: LISTENER_JOBS)
REGISTRY: dict[str, tuple[str, ...]] = {
    PostPublished: (NotifySubscribers, UpdateSitemap, ClearPostCache),
    PostUpdated: (UpdateSitemap, ClearPostCache),
}

# listener → the job that runs it, enqueued by name (core.jobs.enqueue).
LISTENER_JOBS: dict[str, str] = {
    NotifySubscribers: "posts.jobs.notify_subscribers",
    UpdateSitemap: "posts.jobs.update_sitemap",
    ClearPostCache: "posts.jobs.clear_post_cache",
}

# Events younger than this are left to their own after-commit relay by the sweep.
RELAY_GRACE_SECONDS = 30
# One sweep enqueues at most this many events (x listeners) so a backlog drains over ticks.
RELAY_SWEEP_BATCH = 500


def event_record(*, kind: str, post: Post, payload: dict[str, Any] | None = None) -> PostEvent:
    """Write the event row (call inside the changing transaction) and relay it after commit."""
    event = PostEvent.objects.create(
        kind=kind,
        post_id=post.pk,
        author_id=post.author_id,
        category_id=post.category_id,
        payload=payload or {},
    )
    transaction.on_commit(lambda: events_relay(event_ids=[event.pk]))
    return event


def events_relay(*, event_ids: Sequence[int], now: datetime | None = None) -> int:
    """Enqueue every registered listener of each event; mark the event relayed when all were
    published. Never raises: a broker outage leaves the event for the sweep. Returns the
    number of events fully relayed."""
    relayed = 0
    for event in (
        PostEvent.objects.using("default").filter(pk__in=list(event_ids)).only("pk", "kind")
    ):
        is_complete = True
        for listener in REGISTRY.get(event.kind, ()):
            if not enqueue(LISTENER_JOBS[listener], event.pk):
                is_complete = False
        if is_complete:
            relayed += PostEvent.objects.filter(pk=event.pk, relayed_at__isnull=True).update(
                relayed_at=now or timezone.now()
            )
        else:
            PostEvent.objects.filter(pk=event.pk).update(relay_attempts=F("relay_attempts") + 1)
            logger.warning("post event relay incomplete event_id=%s kind=%s", event.pk, event.kind)
    return relayed


def events_relay_pending(*, now: datetime | None = None) -> int:
    """Beat sweep: relay events committed more than RELAY_GRACE_SECONDS ago and never relayed."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=RELAY_GRACE_SECONDS)
    ids = list(
        PostEvent.objects.using("default")
        .filter(relayed_at__isnull=True, created_at__lte=cutoff)
        .order_by("id")
        .values_list("id", flat=True)[:RELAY_SWEEP_BATCH]
    )
    if not ids:
        return 0
    relayed = events_relay(event_ids=ids, now=now)
    logger.info("post event sweep pending=%s relayed=%s", len(ids), relayed)
    return relayed
