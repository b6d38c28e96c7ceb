"""Writes and workflows of posts: create/update/publish/delete (with their domain events),
view counting, the view flush, and the event retention purge."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Value, When
from django.http import Http404
from django.utils import timezone
from django.utils.text import slugify

from core import redis as coordination
from core.errors import Conflict, DomainError
from posts import keys, metrics
from posts.events import PostPublished, PostUpdated, event_record
from posts.models import (
    Category,
    ListenerRun,
    NotificationDelivery,
    Post,
    PostEvent,
    PostTag,
    Tag,
    ViewFlush,
)

logger = logging.getLogger(__name__)

# Fields an editor may change through post_update.
EDITABLE_FIELDS = ("title", "slug", "body", "category_id")
# One bulk UPDATE covers this many posts: a CASE with 1,000 arms stays a small statement.
VIEW_FLUSH_BATCH = 1_000
# Purge deletes this many events per statement: short transactions, no long row locks.
PURGE_BATCH = 5_000
# A purge run stops after this long; the next daily run continues.
PURGE_MAX_SECONDS = 120


def _require_editor(by: Any) -> None:
    if not getattr(by, "is_editor_or_admin", False):
        raise PermissionDenied("Only editors and admins change posts.")


def _unique_slug(*, title: str, slug: str | None, exclude_id: int | None = None) -> str:
    base = slugify(slug or title)[:200] or "post"
    candidate = base
    taken = Post.objects.using("default").filter(slug=candidate)
    if exclude_id:
        taken = taken.exclude(pk=exclude_id)
    if slug and taken.exists():
        raise Conflict("A post with this slug exists.", code="slug_taken")
    while taken.exists():
        candidate = f"{base}-{uuid.uuid4().hex[:6]}"
        taken = Post.objects.using("default").filter(slug=candidate)
    return candidate


def _validate_refs(*, category_id: int | None, tag_ids: Sequence[int] | None) -> None:
    errors: dict[str, list[str]] = {}
    if category_id is not None and not Category.objects.filter(pk=category_id).exists():
        errors["category_id"] = ["Unknown category."]
    if tag_ids:
        found = set(Tag.objects.filter(pk__in=tag_ids).values_list("pk", flat=True))
        missing = sorted(set(tag_ids) - found)
        if missing:
            errors["tag_ids"] = [f"Unknown tags: {', '.join(map(str, missing))}."]
    if errors:
        raise DomainError(
            "Unknown references.", code="invalid", title="Invalid input", errors=errors
        )


def _tags_set(*, post: Post, tag_ids: Iterable[int]) -> None:
    PostTag.objects.filter(post=post).delete()
    PostTag.objects.bulk_create(
        [
            PostTag(post=post, tag_id=tag_id, status=post.status, published_at=post.published_at)
            for tag_id in dict.fromkeys(tag_ids)
        ]
    )


def _tags_sync_copy(*, post: Post) -> None:
    """Keep the (status, published_at) copy on PostTag in step with the post."""
    PostTag.objects.filter(post=post).update(status=post.status, published_at=post.published_at)


def post_lock(*, post_id: int) -> Post:
    """The post row, locked for update on the primary (404 if missing)."""
    try:
        return Post.objects.using("default").select_for_update().get(pk=post_id)
    except Post.DoesNotExist:
        raise Http404("No such post.") from None


@transaction.atomic
def post_create(
    *,
    by: Any,
    title: str,
    body: str = "",
    slug: str | None = None,
    category_id: int | None = None,
    tag_ids: Sequence[int] = (),
    is_published: bool = False,
    now: datetime | None = None,
) -> Post:
    """Create a post (draft unless `is_published`); publishing emits PostPublished."""
    _require_editor(by)
    _validate_refs(category_id=category_id, tag_ids=tag_ids)
    now = now or timezone.now()
    post = Post.objects.create(
        author=by,
        title=title,
        slug=_unique_slug(title=title, slug=slug),
        body=body,
        category_id=category_id,
        status=Post.Status.PUBLISHED if is_published else Post.Status.DRAFT,
        published_at=now if is_published else None,
        created_at=now,
        updated_at=now,
    )
    _tags_set(post=post, tag_ids=tag_ids)
    if is_published:
        event_record(kind=PostPublished, post=post)
    return post


@transaction.atomic
def post_publish(*, post_id: int, by: Any, now: datetime | None = None) -> Post:
    """Publish a draft. Publishing a published post changes nothing and emits nothing."""
    _require_editor(by)
    post = post_lock(post_id=post_id)
    if post.is_published:
        return post
    now = now or timezone.now()
    post.status = Post.Status.PUBLISHED
    post.published_at = now
    post.updated_at = now
    post.save(update_fields=["status", "published_at", "updated_at"])
    _tags_sync_copy(post=post)
    event_record(kind=PostPublished, post=post)
    return post


@transaction.atomic
def post_update(
    *,
    post_id: int,
    by: Any,
    changes: dict[str, Any],
    tag_ids: Sequence[int] | None = None,
    now: datetime | None = None,
) -> Post:
    """Apply editable field changes; a change to a published post emits PostUpdated."""
    _require_editor(by)
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise DomainError(f"Not editable: {', '.join(sorted(unknown))}.", code="invalid")
    _validate_refs(category_id=changes.get("category_id"), tag_ids=tag_ids)
    post = post_lock(post_id=post_id)
    before = {name: getattr(post, name) for name in EDITABLE_FIELDS}
    if "slug" in changes and changes["slug"] != post.slug:
        changes["slug"] = _unique_slug(title=post.title, slug=changes["slug"], exclude_id=post.pk)
    for name, value in changes.items():
        setattr(post, name, value)
    changed = sorted(name for name in EDITABLE_FIELDS if getattr(post, name) != before[name])
    old_tags = set(PostTag.objects.filter(post=post).values_list("tag_id", flat=True))
    if tag_ids is not None and set(tag_ids) != old_tags:
        changed.append("tag_ids")
    if not changed:
        return post
    post.updated_at = now or timezone.now()
    post.save(update_fields=[*[n for n in changed if n != "tag_ids"], "updated_at"])
    if tag_ids is not None and "tag_ids" in changed:
        _tags_set(post=post, tag_ids=tag_ids)
    if post.is_published:
        payload = {"changed": changed, "previous_category_id": before["category_id"]}
        event_record(kind=PostUpdated, post=post, payload=payload)
    return post


@transaction.atomic
def post_delete(*, post_id: int, by: Any) -> None:
    """Delete a post; a published one emits PostUpdated (deleted) so caches and the sitemap follow."""
    _require_editor(by)
    post = post_lock(post_id=post_id)
    if post.is_published:
        event_record(kind=PostUpdated, post=post, payload={"deleted": True})
    post.delete()


# --------------------------------------------------------------------------- views


def post_view_record(*, post_id: int) -> bool:
    """PostViewed: one HINCRBY on the coordination hash. Redis down → the view is dropped and
    counted in `posts_views_dropped_total`; the request never fails for it."""
    try:
        coordination.hash_incr(keys.VIEWS_HASH, str(post_id), 1)
        return True
    except coordination.CoordinationUnavailable:
        metrics.view_dropped()
        return False


def _take_views() -> tuple[str, dict[int, int]] | None:
    """Take the pending counters for one flush: rename the live hash aside (unless an earlier,
    unfinished flush is still there: that one is applied first) and stamp it with a token."""

    def take(r: Any) -> tuple[str, dict[int, int]] | None:
        if not r.exists(keys.VIEWS_FLUSHING_HASH):
            if not r.exists(keys.VIEWS_HASH):
                return None
            r.renamenx(keys.VIEWS_HASH, keys.VIEWS_FLUSHING_HASH)
        r.hsetnx(keys.VIEWS_FLUSHING_HASH, keys.VIEWS_FLUSH_TOKEN_FIELD, uuid.uuid4().hex)
        raw = r.hgetall(keys.VIEWS_FLUSHING_HASH)
        token = raw.pop(keys.VIEWS_FLUSH_TOKEN_FIELD.encode()).decode()
        return token, {int(k): int(v) for k, v in raw.items() if int(v)}

    if coordination.is_configured():
        return coordination.call(take)
    store = coordination.local_store
    with store.lock:  # embedded mode: the in-process hash, swapped under the store lock
        table = store.get(keys.VIEWS_HASH)
        store.delete(keys.VIEWS_HASH)
    if not table:
        return None
    return uuid.uuid4().hex, {int(k): int(v) for k, v in table.items() if int(v)}


def _forget_taken_views() -> None:
    if coordination.is_configured():
        coordination.call(lambda r: r.delete(keys.VIEWS_FLUSHING_HASH))


def post_views_flush() -> int:
    """TrackPostAnalytics: apply pending view deltas to Post.view_count in bulk.

    Take-then-apply: the deltas are renamed aside, applied with one CASE UPDATE per
    VIEW_FLUSH_BATCH posts plus a ViewFlush ledger row in one transaction, then deleted.
    A failed apply leaves them aside for the next run; a run that committed but died before
    the delete finds its token in the ledger and only deletes. Returns the views applied.
    """
    taken = _take_views()
    if taken is None:
        return 0
    token, deltas = taken
    total = sum(deltas.values())
    try:
        with transaction.atomic(using="default"):
            ViewFlush.objects.create(token=token, posts=len(deltas), views=total)
            post_ids = sorted(deltas)
            for start in range(0, len(post_ids), VIEW_FLUSH_BATCH):
                batch = post_ids[start : start + VIEW_FLUSH_BATCH]
                increment = Case(
                    *[When(pk=pk, then=Value(deltas[pk])) for pk in batch], default=Value(0)
                )
                Post.objects.filter(pk__in=batch).update(view_count=F("view_count") + increment)
    except IntegrityError:
        logger.info("view flush already applied token=%s", token)
        total = 0
    _forget_taken_views()
    metrics.VIEWS_FLUSHED.inc(total)
    logger.info("view flush applied posts=%s views=%s", len(deltas), total)
    return total


# --------------------------------------------------------------------------- retention


def post_events_purge(
    *, now: datetime | None = None, max_seconds: float = PURGE_MAX_SECONDS
) -> int:
    """Delete relayed events older than POSTS_EVENT_RETENTION_DAYS (and their ledger rows), plus
    old view-flush ledger rows, PURGE_BATCH at a time. Returns the events deleted."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.POSTS_EVENT_RETENTION_DAYS)
    started = time.monotonic()
    deleted = 0
    while time.monotonic() - started < max_seconds:
        ids = list(
            PostEvent.objects.using("default")
            .filter(created_at__lt=cutoff, relayed_at__isnull=False)
            .order_by("id")
            .values_list("id", flat=True)[:PURGE_BATCH]
        )
        if not ids:
            break
        with transaction.atomic(using="default"):
            ListenerRun.objects.filter(event_id__in=ids).delete()
            NotificationDelivery.objects.filter(event_id__in=ids).update(event=None)
            deleted += PostEvent.objects.filter(pk__in=ids)._raw_delete("default")
    ViewFlush.objects.filter(applied_at__lt=cutoff)._raw_delete("default")
    logger.info("post events purged deleted=%s", deleted)
    return deleted
