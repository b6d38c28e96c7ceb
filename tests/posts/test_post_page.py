"""The public post page at the URL the sitemap lists."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import pytest

from posts.cache import generations_bump
from posts.keys import generation_list
from posts.models import Post
from posts.sitemap import section_name, section_of, sitemap_rebuild_all
from tests.posts.factories import PostFactory, TagFactory

pytestmark = pytest.mark.django_db
NS = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}


def test_every_sitemap_url_is_a_page(client, settings):
    settings.SITE_URL = "http://127.0.0.1:7181"
    posts = [PostFactory(slug=f"page-{n}", title=f"Page {n}") for n in range(3)]
    PostFactory(slug="a-draft", status=Post.Status.DRAFT, published_at=None)
    sitemap_rebuild_all()

    section = client.get(f"/sitemap-{section_name(section_of(posts[0].pk))}.xml")
    root = ET.fromstring(section.content)  # noqa: S314 (parses our own output)
    locs = [node.text for node in root.findall("s:url/s:loc", NS)]
    assert len(locs) == 3
    for loc in locs:
        url = urlsplit(loc)
        assert f"{url.scheme}://{url.netloc}" == "http://127.0.0.1:7181"
        page = client.get(url.path)
        assert page.status_code == 200, loc
        assert page["Content-Type"].startswith("text/html")
        assert f'<link rel="canonical" href="{loc}">' in page.content.decode()


def test_page_shows_the_post_and_may_be_cached_publicly(client, settings):
    settings.SITE_URL = "https://blog.example.org/"
    post = PostFactory(slug="hello", title="Hello <world>", body="First line.\n\nSecond.")
    post.tags.add(TagFactory(name="Django"))
    response = client.get("/posts/hello")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Hello &lt;world&gt;</h1>" in html  # escaped
    assert "<p>Second.</p>" in html
    assert "Django" in html
    assert "<script" not in html
    assert '<link rel="canonical" href="https://blog.example.org/posts/hello">' in html
    assert "public" in response["Cache-Control"] and "max-age=300" in response["Cache-Control"]


def test_drafts_and_unknown_slugs_are_404(client):
    PostFactory(slug="secret", status=Post.Status.DRAFT, published_at=None)
    assert client.get("/posts/secret").status_code == 404
    assert client.get("/posts/nothing-here").status_code == 404


def test_unpublished_post_disappears_from_its_page(client):
    post = PostFactory(slug="brief")
    assert client.get("/posts/brief").status_code == 200
    Post.objects.filter(pk=post.pk).update(status=Post.Status.DRAFT)
    generations_bump(generation_keys=[generation_list()])  # what ClearPostCache does
    assert client.get("/posts/brief").status_code == 404
