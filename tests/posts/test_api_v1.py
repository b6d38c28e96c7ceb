from __future__ import annotations

from email.utils import parsedate_to_datetime

import pytest

from core import redis as coordination
from posts import keys
from posts.models import Post
from tests.factories import UserFactory
from tests.posts.factories import PostFactory, TagFactory

pytestmark = pytest.mark.django_db


def _assert_successor_headers(response) -> None:
    assert response["Deprecation"].startswith("@")
    assert int(response["Deprecation"][1:]) > 0
    assert parsedate_to_datetime(response["Sunset"]).year == 2027
    assert response["Link"] == '</api/v2/posts>; rel="successor-version"'


def test_list_is_paged_with_author_and_category_embedded(api_client):
    tag = TagFactory(slug="python")
    posts = PostFactory.create_batch(3, tags=[tag])
    PostFactory(status=Post.Status.DRAFT, published_at=None)

    response = api_client.get("/api/v1/posts?page_size=2")

    assert response.status_code == 200
    _assert_successor_headers(response)
    body = response.json()
    assert body["meta"]["pagination"] == {"page": 1, "page_size": 2, "total": 3, "total_pages": 2}
    first = body["data"][0]
    newest = max(posts, key=lambda p: (p.published_at, p.pk))
    assert first["id"] == newest.pk
    assert first["author"] == {"id": newest.author_id, "name": newest.author.name}
    assert first["category"]["slug"] == newest.category.slug
    assert first["tags"][0]["slug"] == "python"
    assert api_client.get("/api/v1/posts?page=2&page_size=2").json()["data"][0]["id"] in {
        p.pk for p in posts
    }


def test_errors_also_announce_the_successor(api_client):
    response = api_client.get("/api/v1/posts/999999")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    _assert_successor_headers(response)


def test_detail_by_id_and_by_slug_count_views(api_client):
    post = PostFactory(slug="hello-world")
    assert api_client.get(f"/api/v1/posts/{post.pk}").json()["data"]["slug"] == "hello-world"
    by_slug = api_client.get("/api/v1/posts/by-slug/hello-world")
    assert by_slug.status_code == 200
    _assert_successor_headers(by_slug)
    assert by_slug.json()["data"]["id"] == post.pk
    api_client.get(f"/api/v1/posts/{post.pk}")  # a cache hit counts too
    views = coordination.call(lambda r: r.hget(keys.VIEWS_HASH, str(post.pk)))
    assert int(views) == 3


def test_drafts_are_hidden_from_members_and_anonymous_but_not_editors(
    api_client, auth_client, editor_client
):
    draft = PostFactory(status=Post.Status.DRAFT, published_at=None)
    assert api_client.get(f"/api/v1/posts/{draft.pk}").status_code == 404
    assert auth_client.get(f"/api/v1/posts/{draft.pk}").status_code == 404
    assert editor_client.get(f"/api/v1/posts/{draft.pk}").status_code == 200
    assert coordination.call(lambda r: r.hget(keys.VIEWS_HASH, str(draft.pk))) == b"1"


def test_user_posts_lists_only_that_users_published_posts(api_client):
    alice, bob = UserFactory(role="editor"), UserFactory(role="editor")
    mine = PostFactory.create_batch(2, author=alice)
    PostFactory(author=bob)
    PostFactory(author=alice, status=Post.Status.DRAFT, published_at=None)
    response = api_client.get(f"/api/v1/users/{alice.pk}/posts")
    assert response.status_code == 200
    _assert_successor_headers(response)
    assert sorted(p["id"] for p in response.json()["data"]) == sorted(p.pk for p in mine)
    assert api_client.get("/api/v1/users/999999/posts").status_code == 404


def test_list_is_cached_under_the_list_generation(api_client):
    PostFactory(title="Before")
    assert api_client.get("/api/v1/posts").json()["data"][0]["title"] == "Before"
    Post.objects.update(title="After")
    assert api_client.get("/api/v1/posts").json()["data"][0]["title"] == "Before"
    coordination.generation_bump(keys.generation_list())
    assert api_client.get("/api/v1/posts").json()["data"][0]["title"] == "After"


def test_cache_is_bypassed_when_redis_generations_are_unreachable(api_client, settings):
    PostFactory(title="Live")
    settings.REDIS_URL = "redis://127.0.0.1:1/10"  # nothing listens there
    coordination.reset_clients()
    settings.RATE_LIMIT_ENABLED = False
    response = api_client.get("/api/v1/posts")
    assert response.status_code == 200
    assert response.json()["data"][0]["title"] == "Live"
