from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from posts import jobs, services
from posts.models import (
    Category,
    ListenerRun,
    Post,
    PostEvent,
    PostTag,
    SitemapDocument,
    Tag,
    ViewFlush,
)
from posts.seeding import seed
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _event(*, age_days: float, is_relayed: bool = True) -> PostEvent:
    created = timezone.now() - timedelta(days=age_days)
    event = PostEvent.objects.create(
        kind="PostPublished",
        post_id=1,
        author_id=1,
        created_at=created,
        relayed_at=created if is_relayed else None,
    )
    ListenerRun.objects.create(event=event, listener="ClearPostCache")
    return event


def test_purge_deletes_old_relayed_events_in_chunks_and_keeps_the_rest(monkeypatch, settings):
    settings.POSTS_EVENT_RETENTION_DAYS = 30
    monkeypatch.setattr(services, "PURGE_BATCH", 2)
    old = [_event(age_days=31 + i) for i in range(5)]
    recent = _event(age_days=29)
    unrelayed = _event(age_days=40, is_relayed=False)  # never delivered: the sweep still needs it
    ViewFlush.objects.create(token="old", applied_at=timezone.now() - timedelta(days=31))
    ViewFlush.objects.create(token="new")

    assert jobs.purge_post_events.delay().get() == 5

    assert set(PostEvent.objects.values_list("pk", flat=True)) == {recent.pk, unrelayed.pk}
    assert not ListenerRun.objects.filter(event_id__in=[e.pk for e in old]).exists()
    assert ListenerRun.objects.count() == 2
    assert list(ViewFlush.objects.values_list("token", flat=True)) == ["new"]
    assert services.post_events_purge() == 0


def test_seed_inserts_posts_with_taxonomy_and_tag_copies():
    UserFactory(role="editor")
    reported: list[int] = []

    assert seed(count=12, progress=reported.append) == 12

    assert Post.objects.count() == 12
    assert reported[-1] == 12
    assert Category.objects.count() == 5 and Tag.objects.count() == 10
    assert PostTag.objects.count() == 24
    for tag_row in PostTag.objects.select_related("post")[:5]:
        assert (tag_row.status, tag_row.published_at) == (
            tag_row.post.status,
            tag_row.post.published_at,
        )
    assert Post.objects.published().exists()
    assert SitemapDocument.objects.get(name="index").url_count >= 1  # built once at the end


def test_seed_demo_command_seeds_posts_after_users(capsys):
    call_command("seed_demo", users=3, posts=7)
    assert Post.objects.count() == 7
    assert "7 posts" in capsys.readouterr().out


def test_sitemap_rebuild_command_builds_the_index(capsys):
    from tests.posts.factories import PostFactory

    post = PostFactory()
    call_command("posts_sitemap_rebuild")
    assert "regenerated" in capsys.readouterr().out
    assert post.slug in "".join(SitemapDocument.objects.values_list("xml", flat=True))
