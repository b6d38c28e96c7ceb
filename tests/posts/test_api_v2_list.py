from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from posts.models import Post
from tests.conftest import StatementCounter
from tests.factories import UserFactory
from tests.posts.factories import CategoryFactory, PostFactory, TagFactory

pytestmark = pytest.mark.django_db

URL = "/api/v2/posts"


def _problem(response, status=400) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    return response.json()


def _walk(client, query: str = "", limit: int = 7, mutate=None) -> list[int]:
    seen: list[int] = []
    url = f"{URL}?limit={limit}{query}"
    pages = 0
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        seen.extend(item["id"] for item in body["data"])
        pages += 1
        if mutate:
            mutate(pages)
        nxt = body["meta"]["cursor"]["next"]
        url = f"{URL}?limit={limit}{query}&cursor={nxt}" if nxt else None
        assert pages < 100
    return seen


def test_first_page_is_newest_first_with_cursor_meta(api_client):
    now = timezone.now()
    old = PostFactory(published_at=now - timedelta(days=2))
    tied_a = PostFactory(published_at=now - timedelta(days=1))
    tied_b = PostFactory(published_at=tied_a.published_at)  # same instant: id breaks the tie
    PostFactory(status=Post.Status.DRAFT, published_at=None)

    response = api_client.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert [p["id"] for p in body["data"]] == [tied_b.pk, tied_a.pk, old.pk]
    assert body["meta"]["cursor"] == {"next": None, "prev": None}
    assert body["meta"]["limit"] == 20
    assert body["meta"]["version"] == "v2"
    assert set(body["data"][0]) == {
        "id",
        "title",
        "slug",
        "body",
        "published_at",
        "updated_at",
        "author_id",
        "category_id",
        "tag_ids",
    }


def test_ascending_ordering_and_prev_cursor_walk_back(api_client):
    posts = PostFactory.create_batch(5)
    ascending = sorted(posts, key=lambda p: (p.published_at, p.pk))
    first = api_client.get(f"{URL}?ordering=published_at&limit=2").json()
    assert [p["id"] for p in first["data"]] == [p.pk for p in ascending[:2]]
    second = api_client.get(
        f"{URL}?ordering=published_at&limit=2&cursor={first['meta']['cursor']['next']}"
    ).json()
    assert [p["id"] for p in second["data"]] == [p.pk for p in ascending[2:4]]
    back = api_client.get(
        f"{URL}?ordering=published_at&limit=2&cursor={second['meta']['cursor']['prev']}"
    ).json()
    assert [p["id"] for p in back["data"]] == [p.pk for p in ascending[:2]]
    assert back["meta"]["cursor"]["prev"] is None


def test_walk_while_inserting_and_deleting_has_no_duplicates_and_no_gaps(api_client, settings):
    settings.RATE_LIMIT_ENABLED = False
    author = UserFactory(role="editor")
    category = CategoryFactory()
    now = timezone.now()
    posts = [
        PostFactory(author=author, category=category, published_at=now - timedelta(minutes=i // 3))
        for i in range(60)
    ]
    doomed = {p.pk for p in posts[10:60:6]}
    survivors = {p.pk for p in posts} - doomed

    def mutate(page: int) -> None:
        # Newer, older and same-instant inserts, plus deletes ahead of and behind the cursor.
        PostFactory(author=author, category=category, published_at=now + timedelta(minutes=page))
        PostFactory(
            author=author, category=category, published_at=now - timedelta(minutes=page * 2)
        )
        PostFactory(author=author, category=category, published_at=posts[page * 5].published_at)
        for pk in list(doomed)[:1]:
            Post.objects.filter(pk=pk).delete()
            doomed.discard(pk)

    seen = _walk(api_client, limit=7, mutate=mutate)

    assert len(seen) == len(set(seen)), "a post was returned twice"
    assert survivors <= set(seen), "a post that existed throughout was skipped"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda c: c[:-4],
        lambda c: c[:10],
        lambda c: c[::-1],
        lambda c: "Z" + c[1:],
        lambda c: "garbage",
    ],
)
def test_tampered_or_truncated_cursor_is_a_400_problem(api_client, mangle):
    PostFactory.create_batch(3)
    cursor = api_client.get(f"{URL}?limit=1").json()["meta"]["cursor"]["next"]
    body = _problem(api_client.get(f"{URL}?limit=1&cursor={mangle(cursor)}"))
    assert body["code"] == "invalid_cursor"
    assert body["type"] == "/problems/invalid_cursor"


@pytest.mark.parametrize(
    "other",
    ["&ordering=published_at", "&author=1", "&category=x", "&published_after=2020-01-01T00:00:00Z"],
)
def test_cursor_reused_with_other_filters_or_ordering_is_rejected(api_client, other):
    PostFactory.create_batch(3)
    cursor = api_client.get(f"{URL}?limit=1").json()["meta"]["cursor"]["next"]
    assert api_client.get(f"{URL}?limit=1&cursor={cursor}").status_code == 200
    assert (
        _problem(api_client.get(f"{URL}?limit=1&cursor={cursor}{other}"))["code"]
        == "invalid_cursor"
    )


def test_cursor_signed_with_another_key_is_rejected(api_client, settings):
    PostFactory.create_batch(3)
    settings.CURSOR_SIGNING_KEY = "another-deployment"
    foreign = api_client.get(f"{URL}?limit=1").json()["meta"]["cursor"]["next"]
    settings.CURSOR_SIGNING_KEY = "this-deployment"
    assert _problem(api_client.get(f"{URL}?limit=1&cursor={foreign}"))["code"] == "invalid_cursor"


@pytest.mark.parametrize(
    "query", ["page=2", "limit=5&sort=title", "offset=10", "fields=id&Fields=id"]
)
def test_unknown_query_parameter_is_a_400(api_client, query):
    body = _problem(api_client.get(f"{URL}?{query}"))
    assert body["code"] == "unknown_parameter"
    assert "limit" in body["detail"]


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=101", "ordering=title", "author=abc", "published_after=yesterday"],
)
def test_invalid_values_are_a_400(api_client, query):
    _problem(api_client.get(f"{URL}?{query}"))


def test_filters_by_category_author_tag_and_dates(api_client):
    now = timezone.now()
    news, misc = CategoryFactory(slug="news"), CategoryFactory(slug="misc")
    python, rust = TagFactory(slug="python"), TagFactory(slug="rust")
    alice, bob = UserFactory(role="editor"), UserFactory(role="editor")
    a = PostFactory(
        category=news, author=alice, tags=[python], published_at=now - timedelta(days=1)
    )
    b = PostFactory(
        category=misc, author=alice, tags=[python, rust], published_at=now - timedelta(days=3)
    )
    c = PostFactory(category=news, author=bob, tags=[rust], published_at=now - timedelta(days=5))

    def ids(query: str) -> list[int]:
        response = api_client.get(f"{URL}?{query}")
        assert response.status_code == 200, response.content
        return [p["id"] for p in response.json()["data"]]

    assert ids("category=news") == [a.pk, c.pk]
    assert ids(f"author={alice.pk}") == [a.pk, b.pk]
    assert ids("tag=python") == [a.pk, b.pk]
    assert ids("tag=rust&category=misc") == [b.pk]
    after = (now - timedelta(days=4)).isoformat().replace("+00:00", "Z")
    before = (now - timedelta(days=2)).isoformat().replace("+00:00", "Z")
    assert ids(f"published_after={after}") == [a.pk, b.pk]
    assert ids(f"published_before={before}") == [b.pk, c.pk]
    assert ids(f"tag=rust&published_before={before}") == [b.pk, c.pk]
    assert ids("category=nothing") == []


def test_tag_filter_pages_with_cursors(api_client):
    tag = TagFactory(slug="python")
    posts = PostFactory.create_batch(5, tags=[tag])
    PostFactory.create_batch(3)  # untagged
    expected = [p.pk for p in sorted(posts, key=lambda p: (p.published_at, p.pk), reverse=True)]
    assert _walk(api_client, query="&tag=python", limit=2) == expected


def test_fields_return_exactly_those_keys_and_select_only_their_columns(api_client):
    PostFactory.create_batch(3)
    with CaptureQueriesContext(connection) as captured:
        response = api_client.get(f"{URL}?fields=id,title,slug")
    assert response.status_code == 200
    assert all(set(item) == {"id", "title", "slug"} for item in response.json()["data"])
    post_queries = [q["sql"] for q in captured.captured_queries if "posts_post" in q["sql"]]
    assert len(post_queries) == 1
    select_clause = post_queries[0].split(" FROM ")[0]
    for column in ("`id`", "`title`", "`slug`", "`published_at`"):
        assert column in select_clause
    for hidden in (
        "`body`",
        "`view_count`",
        "`status`",
        "`author_id`",
        "`created_at`",
        "`updated_at`",
    ):
        assert hidden not in select_clause


def test_hidden_fields_are_not_selectable_by_the_public_but_are_by_editors(
    api_client, editor_client
):
    PostFactory(view_count=5)
    body = _problem(api_client.get(f"{URL}?fields=id,view_count"))
    assert body["code"] == "invalid_fields"
    assert "view_count" not in body["errors"]["fields"][0]
    assert "title" in body["errors"]["fields"][0]
    assert _problem(api_client.get(f"{URL}?fields=status"))["code"] == "invalid_fields"
    response = editor_client.get(f"{URL}?fields=id,view_count,status")
    assert response.status_code == 200
    assert response.json()["data"][0]["view_count"] == 5


@pytest.mark.parametrize(
    "include", ["comments", "author.posts", "author,author,author,author,author,tags"]
)
def test_unknown_or_too_deep_includes_are_rejected(api_client, include):
    assert _problem(api_client.get(f"{URL}?include={include}"))["code"] == "invalid_include"


def test_include_embeds_relations_inline_and_dotted_fields(api_client):
    tag = TagFactory(name="Python", slug="python")
    post = PostFactory(tags=[tag], category=None)
    data = api_client.get(f"{URL}?include=category,author,tags").json()["data"][0]
    assert data["author"] == {"id": post.author_id, "name": post.author.name}
    assert data["category"] is None
    assert data["tags"] == [{"id": tag.pk, "name": "Python", "slug": "python"}]
    assert "author_id" not in data and "tag_ids" not in data
    plain = api_client.get(URL).json()["data"][0]
    assert plain["author_id"] == post.author_id and plain["tag_ids"] == [tag.pk]
    dotted = api_client.get(f"{URL}?fields=id,author.name").json()["data"][0]
    assert dotted == {"id": post.pk, "author": {"name": post.author.name}}


@pytest.mark.parametrize("limit", [1, 100])
@pytest.mark.parametrize(
    ("query", "statements"),
    [
        ("include=category,author,tags", 4),  # posts, authors, categories, tags (by id)
        ("", 2),  # posts, then tag ids
        ("fields=id,title", 1),
        ("include=category,author,tags&tag=python", 6),  # + tag id, PostTag seek
        ("fields=id&category=news", 2),  # category id, posts
    ],
)
def test_statements_per_page_are_constant(
    api_client, django_assert_num_queries, limit, query, statements
):
    author, category = UserFactory(role="editor"), CategoryFactory(slug="news")
    tag = TagFactory(slug="python")
    PostFactory.create_batch(101, author=author, category=category, tags=[tag])
    with django_assert_num_queries(statements):
        response = api_client.get(f"{URL}?limit={limit}&{query}")
    assert response.status_code == 200
    assert len(response.json()["data"]) == limit
    with django_assert_num_queries(0):  # the same page again: from the cache
        assert api_client.get(f"{URL}?limit={limit}&{query}").status_code == 200


def test_pages_are_cached_until_a_post_change_bumps_the_generation(
    api_client, editor_client, django_capture_on_commit_callbacks
):
    PostFactory()
    first = api_client.get(URL).json()["data"]
    Post.objects.update(title="Changed behind the cache's back")
    assert api_client.get(URL).json()["data"] == first  # cached

    with django_capture_on_commit_callbacks(execute=True):  # relay → ClearPostCache (eager)
        response = editor_client.post(
            "/api/v2/posts", {"title": "Fresh", "publish": True}, format="json"
        )
    assert response.status_code == 201
    titles = [p["title"] for p in api_client.get(URL).json()["data"]]
    assert titles[0] == "Fresh"
    assert "Changed behind the cache's back" in titles


@pytest.mark.django_db(transaction=True)
def test_sixteen_concurrent_requests_for_a_cold_page_query_it_once(settings):
    """Single flight (core.cache): 16 requests miss the same page at once; one computes it,
    the others wait for its entry. Counted on every thread's connection."""
    settings.CACHE_FLIGHT_WAIT_MS = 10_000  # this test is about single flight, not the budget
    PostFactory.create_batch(10)
    counter = StatementCounter()
    barrier = threading.Barrier(16)
    results: list[tuple[int, list[int]]] = []

    def request(index: int) -> None:
        client = Client()
        try:
            with connections["default"].execute_wrapper(counter):
                barrier.wait()
                response = client.get(
                    f"{URL}?limit=7&include=author,category", REMOTE_ADDR=f"10.7.0.{index + 1}"
                )
            results.append((response.status_code, [p["id"] for p in response.json()["data"]]))
        finally:
            for alias in connections:
                connections[alias].close()

    threads = [threading.Thread(target=request, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    page_statements = [sql for sql in counter.matching("posts_post") if "LIMIT 8" in sql]
    assert len(page_statements) == 1, page_statements
    assert len(results) == 16
    assert {status for status, _ in results} == {200}
    assert len({tuple(ids) for _, ids in results}) == 1 and len(results[0][1]) == 7
