"""Celery jobs of the posts app: listeners, the relay sweep, view flush, sitemap, purge.

Listener jobs retry what can heal (database or Redis briefly down, SMTP errors) with
backoff and jitter; each is guarded by the (event, listener) ledger, so retries and
redeliveries never act twice, and a failure in one listener never touches another.
"""

from __future__ import annotations

import logging
import smtplib
from typing import Any

from celery import shared_task
from django.db import DatabaseError

from core import redis as coordination
from posts import events, keys, listeners, services, sitemap

logger = logging.getLogger(__name__)

# What can heal on its own: the database, Redis or the mail server briefly away.
RETRYABLE = (DatabaseError, coordination.CoordinationUnavailable, smtplib.SMTPException, OSError)
LISTENER_OPTIONS: dict[str, Any] = {
    "autoretry_for": RETRYABLE,
    "retry_backoff": 2,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 8,
    "acks_late": True,
    "soft_time_limit": 60,
    "time_limit": 90,
}


@shared_task(name="posts.jobs.notify_subscribers", **LISTENER_OPTIONS)
def notify_subscribers(event_id: int) -> bool:
    """NotifySubscribers: fan the event's subscribers out into chunk jobs, once per event."""

    return listeners.listener_run_once(
        event_id=event_id, listener=events.NotifySubscribers, action=listeners.notify_fan_out
    )


@shared_task(name="posts.jobs.notify_subscribers_chunk", **LISTENER_OPTIONS)
def notify_subscribers_chunk(event_id: int, user_ids: list[int]) -> int:
    """Email one chunk (≤ POSTS_NOTIFY_CHUNK_SIZE) of subscribers; at most once per subscriber."""
    return listeners.notify_chunk_send(event_id=event_id, user_ids=user_ids)


@shared_task(name="posts.jobs.update_sitemap", **LISTENER_OPTIONS)
def update_sitemap(event_id: int) -> bool:
    """UpdateSitemap: mark the post's section dirty and schedule a coalesced regeneration."""
    return listeners.listener_run_once(
        event_id=event_id, listener=events.UpdateSitemap, action=listeners.update_sitemap
    )


@shared_task(name="posts.jobs.clear_post_cache", **LISTENER_OPTIONS)
def clear_post_cache(event_id: int) -> bool:
    """ClearPostCache: bump the post, list and author generations."""
    return listeners.listener_run_once(
        event_id=event_id, listener=events.ClearPostCache, action=listeners.clear_post_cache
    )


@shared_task(
    name="posts.jobs.regenerate_sitemap",
    autoretry_for=RETRYABLE,
    retry_backoff=5,
    retry_jitter=True,
    max_retries=5,
    acks_late=True,
    soft_time_limit=240,
    time_limit=300,
)
def regenerate_sitemap() -> int:
    """Regenerate the dirty sitemap sections and the index (coalesced by UpdateSitemap)."""
    return len(sitemap.sitemap_regenerate())


@shared_task(
    name="posts.jobs.relay_pending_post_events", acks_late=True, soft_time_limit=50, time_limit=60
)
def relay_pending_post_events() -> int:
    """Beat sweep: enqueue listeners of events whose after-commit relay never completed."""
    return events.events_relay_pending()


@shared_task(
    name="posts.jobs.flush_post_views",
    autoretry_for=RETRYABLE,
    retry_backoff=5,
    max_retries=3,
    acks_late=True,
    soft_time_limit=50,
    time_limit=60,
)
def flush_post_views() -> int:
    """TrackPostAnalytics: apply the Redis view counters to Post.view_count in bulk."""
    token = coordination.lock_acquire(keys.FLUSH_LOCK, ttl_seconds=60)
    if token is None:
        return 0  # another flush is running; its swap covers these views
    try:
        return services.post_views_flush()
    finally:
        coordination.lock_release(keys.FLUSH_LOCK, token)


@shared_task(
    name="posts.jobs.purge_post_events", acks_late=True, soft_time_limit=240, time_limit=300
)
def purge_post_events() -> int:
    """Delete relayed post events past POSTS_EVENT_RETENTION_DAYS, in chunks."""
    return services.post_events_purge()
