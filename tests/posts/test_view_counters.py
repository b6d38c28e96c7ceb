from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core import redis as coordination
from posts import jobs, keys, metrics
from posts.models import Post, ViewFlush
from posts.services import _take_views, post_view_record, post_views_flush
from tests.posts.factories import PostFactory

pytestmark = pytest.mark.django_db


def _pending(post_id: int) -> int:
    return int(coordination.call(lambda r: r.hget(keys.VIEWS_HASH, str(post_id))) or 0)


def test_detail_get_is_one_hincrby_and_errors_count_nothing(api_client):
    post = PostFactory()
    assert api_client.get(f"/api/v2/posts/{post.pk}").status_code == 200
    assert api_client.get(f"/api/v2/posts/{post.pk}").status_code == 200  # cache hit
    assert api_client.get(f"/api/v2/posts/{post.pk}?fields=nope").status_code == 400
    assert api_client.get("/api/v2/posts/999999").status_code == 404
    assert _pending(post.pk) == 2
    assert coordination.call(lambda r: r.hlen(keys.VIEWS_HASH)) == 1


def test_ten_thousand_views_of_a_post_are_one_update_per_flush():
    post, other = PostFactory(view_count=5), PostFactory()
    for _ in range(10_000):
        post_view_record(post_id=post.pk)
    post_view_record(post_id=other.pk)

    with CaptureQueriesContext(connection) as captured:
        assert jobs.flush_post_views.delay().get() == 10_001

    updates = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 1
    assert Post.objects.get(pk=post.pk).view_count == 10_005
    assert Post.objects.get(pk=other.pk).view_count == 1
    assert post_views_flush() == 0  # nothing pending


def test_a_flush_that_died_after_taking_loses_no_views():
    post = PostFactory()
    for _ in range(3):
        post_view_record(post_id=post.pk)
    _take_views()  # a flush took the counters aside, then its worker died
    for _ in range(2):
        post_view_record(post_id=post.pk)  # views keep arriving in the live hash

    assert post_views_flush() == 3  # the taken-aside batch first
    assert post_views_flush() == 2  # then the newer views
    assert Post.objects.get(pk=post.pk).view_count == 5


def test_a_flush_that_committed_but_died_before_cleanup_applies_nothing_twice():
    post = PostFactory()
    for _ in range(4):
        post_view_record(post_id=post.pk)
    token, deltas = _take_views()
    assert deltas == {post.pk: 4}
    # The first run committed its UPDATE and ledger row, then died before deleting the batch.
    Post.objects.filter(pk=post.pk).update(view_count=4)
    ViewFlush.objects.create(token=token, posts=1, views=4)

    assert post_views_flush() == 0
    assert Post.objects.get(pk=post.pk).view_count == 4
    assert not coordination.call(lambda r: r.exists(keys.VIEWS_FLUSHING_HASH))


def test_redis_down_drops_the_view_counts_it_and_still_answers(api_client, settings):
    post = PostFactory()
    settings.RATE_LIMIT_ENABLED = False
    settings.REDIS_URL = "redis://127.0.0.1:1/10"  # nothing listens there
    coordination.reset_clients()
    dropped = metrics.views_dropped_total()

    response = api_client.get(f"/api/v2/posts/{post.pk}")

    assert response.status_code == 200
    assert metrics.views_dropped_total() == dropped + 1
