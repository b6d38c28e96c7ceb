from __future__ import annotations

import pytest

from core import redis as coordination
from posts import keys
from posts.models import Post, PostEvent, PostTag
from tests.posts.factories import CategoryFactory, PostFactory, TagFactory

pytestmark = pytest.mark.django_db


def test_detail_supports_fields_and_include_and_counts_a_view(api_client):
    post = PostFactory()
    response = api_client.get(f"/api/v2/posts/{post.pk}?fields=id,title&include=author")
    assert response.status_code == 200
    assert response.json()["data"] == {
        "id": post.pk,
        "title": post.title,
        "author": {"id": post.author_id, "name": post.author.name},
    }
    assert coordination.call(lambda r: r.hget(keys.VIEWS_HASH, str(post.pk))) == b"1"


def test_detail_rejects_unknown_parameters_and_counts_nothing(api_client):
    post = PostFactory()
    response = api_client.get(f"/api/v2/posts/{post.pk}?limit=3")
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_parameter"
    assert coordination.call(lambda r: r.hget(keys.VIEWS_HASH, str(post.pk))) is None


def test_missing_or_draft_detail_is_404_for_the_public(api_client):
    draft = PostFactory(status=Post.Status.DRAFT, published_at=None)
    assert api_client.get(f"/api/v2/posts/{draft.pk}").status_code == 404
    assert api_client.get("/api/v2/posts/999999").status_code == 404


@pytest.mark.parametrize("client_name", ["api_client", "auth_client"])
def test_members_and_anonymous_cannot_write(request, client_name):
    client = request.getfixturevalue(client_name)
    post = PostFactory(status=Post.Status.DRAFT, published_at=None)
    expected = 401 if client_name == "api_client" else 403
    assert client.post("/api/v2/posts", {"title": "x"}, format="json").status_code == expected
    assert (
        client.patch(f"/api/v2/posts/{post.pk}", {"title": "x"}, format="json").status_code
        == expected
    )
    assert client.post(f"/api/v2/posts/{post.pk}/publish").status_code == expected
    assert client.delete(f"/api/v2/posts/{post.pk}").status_code == expected
    post.refresh_from_db()
    assert post.title != "x" and post.status == Post.Status.DRAFT
    assert not PostEvent.objects.exists()


def test_editor_creates_a_draft_without_an_event(editor_client):
    category, tag = CategoryFactory(), TagFactory()
    response = editor_client.post(
        "/api/v2/posts",
        {"title": "Hello World", "body": "b", "category_id": category.pk, "tag_ids": [tag.pk]},
        format="json",
    )
    assert response.status_code == 201, response.content
    data = response.json()["data"]
    assert data["slug"] == "hello-world" and data["status"] == "draft"
    assert data["tag_ids"] == [tag.pk]
    assert not PostEvent.objects.exists()


def test_unknown_references_and_duplicate_slugs_are_rejected(editor_client):
    PostFactory(slug="taken")
    bad = editor_client.post("/api/v2/posts", {"title": "x", "category_id": 999999}, format="json")
    assert bad.status_code == 400 and "category_id" in bad.json()["errors"]
    dup = editor_client.post("/api/v2/posts", {"title": "x", "slug": "taken"}, format="json")
    assert dup.status_code == 409


def test_publish_writes_the_event_in_the_same_transaction_once(editor_client, editor):
    post = PostFactory(
        author=editor, status=Post.Status.DRAFT, published_at=None, tags=[TagFactory()]
    )
    response = editor_client.post(f"/api/v2/posts/{post.pk}/publish")
    assert response.status_code == 200
    assert response.json()["data"]["status"] == "published"
    event = PostEvent.objects.get()
    assert (event.kind, event.post_id, event.author_id) == ("PostPublished", post.pk, editor.pk)
    assert PostTag.objects.get(post=post).status == "published"  # the seek copy follows
    assert editor_client.post(f"/api/v2/posts/{post.pk}/publish").status_code == 200
    assert PostEvent.objects.count() == 1  # publishing twice emits nothing


def test_event_row_rolls_back_with_the_change(editor):
    from django.db import transaction

    from posts.services import post_publish

    post = PostFactory(author=editor, status=Post.Status.DRAFT, published_at=None)
    with pytest.raises(RuntimeError), transaction.atomic():
        post_publish(post_id=post.pk, by=editor)
        raise RuntimeError("crash before commit")
    assert not PostEvent.objects.exists()
    post.refresh_from_db()
    assert post.status == Post.Status.DRAFT


def test_update_of_a_published_post_emits_post_updated_with_the_changes(editor_client):
    post = PostFactory()
    tag = TagFactory()
    response = editor_client.patch(
        f"/api/v2/posts/{post.pk}", {"title": "New title", "tag_ids": [tag.pk]}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["data"]["title"] == "New title"
    event = PostEvent.objects.get()
    assert event.kind == "PostUpdated"
    assert event.payload["changed"] == ["title", "tag_ids"]
    assert (
        editor_client.patch(
            f"/api/v2/posts/{post.pk}", {"title": "New title"}, format="json"
        ).status_code
        == 200
    )
    assert PostEvent.objects.count() == 1  # no change, no event


def test_delete_of_a_published_post_emits_a_deleted_update(editor_client):
    post = PostFactory()
    assert editor_client.delete(f"/api/v2/posts/{post.pk}").status_code == 204
    assert not Post.objects.filter(pk=post.pk).exists()
    event = PostEvent.objects.get()
    assert event.payload == {"deleted": True} and event.post_id == post.pk
    assert editor_client.delete(f"/api/v2/posts/{post.pk}").status_code == 404


@pytest.mark.parametrize("key", ["author_id", "view_count", "status"])
def test_create_with_an_unknown_key_is_a_400_and_creates_nothing(editor_client, key):
    response = editor_client.post("/api/v2/posts", {"title": "x", key: 1}, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert list(response.json()["errors"]) == [key]
    assert not Post.objects.exists()


def test_update_with_an_unknown_key_is_a_400_and_changes_nothing(editor_client, editor):
    post = PostFactory(author=editor, title="before")
    response = editor_client.patch(
        f"/api/v2/posts/{post.pk}", {"title": "after", "author_id": 1}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["author_id"]
    post.refresh_from_db()
    assert post.title == "before"
