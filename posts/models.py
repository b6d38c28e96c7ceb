"""Posts, their taxonomy, subscriptions, durable domain events and listener ledgers."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Category(models.Model):
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)

    class Meta:
        ordering = ("name",)
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class PostQuerySet(models.QuerySet["Post"]):
    def published(self) -> PostQuerySet:
        return self.filter(status=Post.Status.PUBLISHED)

    def visible_to(self, user: object) -> PostQuerySet:
        """Editors and admins see drafts; everyone else sees published posts only."""
        if getattr(user, "is_authenticated", False) and getattr(user, "is_editor_or_admin", False):
            return self
        return self.published()


class Post(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"

    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="posts"
    )
    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, related_name="posts", null=True, blank=True
    )
    tags: models.ManyToManyField[Tag, PostTag] = models.ManyToManyField(
        Tag, through="PostTag", related_name="posts", blank=True
    )
    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=220, unique=True)
    body = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    published_at = models.DateTimeField(null=True, blank=True)
    view_count = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = PostQuerySet.as_manager()

    class Meta:
        ordering = ("-published_at", "-id")
        # Every list filter has an index ending in (published_at, id): keyset seeks stay
        # index range scans at any depth.
        indexes = [
            models.Index(fields=["status", "published_at", "id"], name="post_status_pub_idx"),
            models.Index(
                fields=["category", "status", "published_at", "id"], name="post_cat_pub_idx"
            ),
            models.Index(
                fields=["author", "status", "published_at", "id"], name="post_author_pub_idx"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_published(self) -> bool:
        return self.status == self.Status.PUBLISHED


class PostTag(models.Model):
    """The tags M2M, with the post's status and published_at copied in so `?tag=` lists seek
    on (tag, status, published_at, post) without touching posts first; services keep the copy."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE)
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE)
    status = models.CharField(max_length=16, default=Post.Status.DRAFT)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["post", "tag"], name="posttag_post_tag_uniq")
        ]
        indexes = [
            models.Index(
                fields=["tag", "status", "published_at", "post"], name="posttag_tag_pub_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.post_id}:{self.tag_id}"


class Subscription(models.Model):
    """A user follows an author or a category (exactly one of the two)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="post_subscriptions"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="post_subscribers",
        null=True,
        blank=True,
    )
    category = models.ForeignKey(
        Category, on_delete=models.CASCADE, related_name="subscriptions", null=True, blank=True
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(author__isnull=False) & Q(category__isnull=True))
                | (Q(author__isnull=True) & Q(category__isnull=False)),
                name="subscription_author_xor_category",
            ),
            models.UniqueConstraint(fields=["author", "user"], name="subscription_author_uniq"),
            models.UniqueConstraint(fields=["category", "user"], name="subscription_category_uniq"),
        ]

    def __str__(self) -> str:
        target = f"author {self.author_id}" if self.author_id else f"category {self.category_id}"
        return f"{self.user_id} → {target}"


class PostEvent(models.Model):
    """A durable domain event, written in the transaction that changed the post.

    `relayed_at` is set once every listener job was enqueued; the beat sweep re-enqueues
    rows left NULL (crash or broker outage between commit and enqueue).
    """

    class Kind(models.TextChoices):
        PUBLISHED = "PostPublished", "Post published"
        UPDATED = "PostUpdated", "Post updated"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    # No FK: the event outlives a deleted post (listeners still clear caches and the sitemap).
    post_id = models.BigIntegerField()
    author_id = models.BigIntegerField()
    category_id = models.BigIntegerField(null=True, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    relayed_at = models.DateTimeField(null=True, blank=True)
    relay_attempts = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["relayed_at", "id"], name="postevent_relay_idx"),
            models.Index(fields=["created_at"], name="postevent_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}#{self.pk} post={self.post_id}"


class ListenerRun(models.Model):
    """Ledger: one row per (event, listener) that has acted; redeliveries see it and skip."""

    event = models.ForeignKey(PostEvent, on_delete=models.CASCADE, related_name="runs")
    listener = models.CharField(max_length=64)
    finished_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "listener"], name="listenerrun_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.listener}@{self.event_id}"


class NotificationDelivery(models.Model):
    """At most one notification per (post, subscriber), claimed before sending."""

    post_id = models.BigIntegerField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    event = models.ForeignKey(PostEvent, on_delete=models.SET_NULL, null=True, blank=True)
    claimed_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["post_id", "user"], name="notification_post_user_uniq")
        ]

    def __str__(self) -> str:
        return f"post {self.post_id} → user {self.user_id}"


class SitemapDocument(models.Model):
    """A stored sitemap file: `index` or `section-<n>` (post ids n*50,000+1 … (n+1)*50,000).

    `dirty_version` moves on every mark; a regeneration only clears `is_dirty` when the
    version it read is still current, so a mark made meanwhile is never lost.
    """

    name = models.CharField(max_length=32, primary_key=True)
    xml = models.TextField(blank=True)
    url_count = models.PositiveIntegerField(default=0)
    is_dirty = models.BooleanField(default=True)
    dirty_version = models.PositiveBigIntegerField(default=0)
    regenerations = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["is_dirty"], name="sitemap_dirty_idx")]

    def __str__(self) -> str:
        return self.name


class ViewFlush(models.Model):
    """Ledger of applied view-counter flushes: a flush retried after its commit applies nothing."""

    token = models.CharField(max_length=64, unique=True)
    posts = models.PositiveIntegerField(default=0)
    views = models.PositiveBigIntegerField(default=0)
    applied_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["applied_at"], name="viewflush_applied_idx")]

    def __str__(self) -> str:
        return self.token
