"""Bulk posts for seed_demo: a few categories and tags, then multi-row INSERTs of posts and
their tag rows (no services, no events: seeded posts are not announced to subscribers)."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from posts.models import Category, Post, PostTag, Tag
from posts.sitemap import sitemap_rebuild_all

# seed_demo option (`--posts N`); apps are seeded in INSTALLED_APPS order (users first).
SEED_OPTION = "posts"

User = get_user_model()

# 5,000 rows per INSERT keeps each statement well under max_allowed_packet.
INSERT_BATCH_SIZE = 5_000
CATEGORIES = ("News", "Engineering", "Product", "Culture", "Guides")
TAGS = ("python", "django", "celery", "redis", "mariadb", "api", "ops", "design", "data", "release")
# Nine in ten seeded posts are published; the rest stay drafts.
PUBLISHED_SHARE = 0.9
# Publication times spread over the last two years.
SPREAD_SECONDS = 2 * 365 * 86_400
BODY = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 8


def _taxonomy() -> tuple[list[int], list[int]]:
    for name in CATEGORIES:
        Category.objects.get_or_create(slug=name.lower(), defaults={"name": name})
    for name in TAGS:
        Tag.objects.get_or_create(slug=name, defaults={"name": name.capitalize()})
    return (
        list(Category.objects.values_list("pk", flat=True)),
        list(Tag.objects.values_list("pk", flat=True)),
    )


def seed(*, count: int, progress: Callable[[int], None]) -> int:
    """Insert `count` posts by existing users (editors/admins preferred). Returns the count."""
    author_ids = list(
        User.objects.filter(role__in=[User.Role.EDITOR, User.Role.ADMIN]).values_list(
            "pk", flat=True
        )
    ) or list(User.objects.values_list("pk", flat=True)[:1000])
    if not author_ids:
        return 0
    category_ids, tag_ids = _taxonomy()
    rng = random.Random(count)
    now = timezone.now()
    start = (Post.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    inserted = 0
    while inserted < count:
        size = min(INSERT_BATCH_SIZE, count - inserted)
        posts = []
        for offset in range(size):
            number = start + inserted + offset
            is_published = rng.random() < PUBLISHED_SHARE
            moment = now - timedelta(seconds=rng.randrange(SPREAD_SECONDS))
            posts.append(
                Post(
                    author_id=rng.choice(author_ids),
                    category_id=rng.choice(category_ids),
                    title=f"Demo post {number}",
                    slug=f"demo-post-{number}",
                    body=BODY,
                    status=Post.Status.PUBLISHED if is_published else Post.Status.DRAFT,
                    published_at=moment if is_published else None,
                    created_at=moment,
                    updated_at=moment,
                )
            )
        with transaction.atomic():
            Post.objects.bulk_create(posts, batch_size=INSERT_BATCH_SIZE)
            created = list(
                Post.objects.filter(slug__in=[p.slug for p in posts]).values_list(
                    "pk", "status", "published_at"
                )
            )
            PostTag.objects.bulk_create(
                [
                    PostTag(post_id=pk, tag_id=tag_id, status=status, published_at=published_at)
                    for pk, status, published_at in created
                    for tag_id in rng.sample(tag_ids, k=min(2, len(tag_ids)))
                ],
                batch_size=INSERT_BATCH_SIZE,
            )
        inserted += size
        progress(inserted)
    sitemap_rebuild_all()  # seeded rows bypass the events, so build the sitemap once here
    return inserted
