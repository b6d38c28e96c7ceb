from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from posts.models import Post, SitemapDocument
from posts.sitemap import (
    SECTION_SIZE,
    section_name,
    section_of,
    sitemap_mark_dirty,
    sitemap_rebuild_all,
    sitemap_regenerate,
)
from tests.posts.factories import PostFactory

pytestmark = pytest.mark.django_db
NS = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}


def _locs(xml: bytes, tag: str) -> list[str]:
    root = ET.fromstring(xml)  # noqa: S314 (parses our own output)
    return [node.text for node in root.findall(f"s:{tag}/s:loc", NS)]


def test_sections_hold_at_most_the_protocol_limit_of_ids():
    assert SECTION_SIZE == 50_000
    assert section_of(1) == 0 and section_of(50_000) == 0
    assert section_of(50_001) == 1 and section_of(1_000_000) == 19


def test_index_and_sections_are_served_from_storage_with_published_posts_only(client, settings):
    settings.SITE_URL = "https://example.org"
    published = PostFactory(slug="visible")
    PostFactory(slug="hidden-draft", status=Post.Status.DRAFT, published_at=None)
    far = PostFactory(id=published.pk + SECTION_SIZE, slug="far-away")
    near, away = section_of(published.pk), section_of(far.pk)
    assert client.get("/sitemap.xml").status_code == 200  # empty index before any build

    sitemap_rebuild_all()

    index = client.get("/sitemap.xml")
    assert index.status_code == 200
    assert index["Content-Type"] == "application/xml"
    assert _locs(index.content, "sitemap") == [
        f"https://example.org/sitemap-section-{near}.xml",
        f"https://example.org/sitemap-section-{away}.xml",
    ]
    section = client.get(f"/sitemap-section-{near}.xml")
    assert _locs(section.content, "url") == [f"https://example.org/posts/{published.slug}"]
    assert _locs(client.get(f"/sitemap-section-{away}.xml").content, "url") == [
        f"https://example.org/posts/{far.slug}"
    ]
    assert client.get(f"/sitemap-section-{away + 1}.xml").status_code == 404


def test_only_touched_sections_are_regenerated():
    near = PostFactory()
    far = PostFactory(id=near.pk + SECTION_SIZE)
    near_name, far_name = section_name(section_of(near.pk)), section_name(section_of(far.pk))
    sitemap_rebuild_all()
    counts = dict(SitemapDocument.objects.values_list("name", "regenerations"))

    sitemap_mark_dirty(post_ids=[far.pk])
    assert sitemap_regenerate() == [far_name, "index"]

    after = dict(SitemapDocument.objects.values_list("name", "regenerations"))
    assert after[near_name] == counts[near_name]
    assert after[far_name] == counts[far_name] + 1
    assert sitemap_regenerate() == []  # nothing dirty: nothing rebuilt
    assert not SitemapDocument.objects.filter(is_dirty=True).exists()


def test_a_mark_made_during_regeneration_keeps_the_section_dirty():
    post = PostFactory()
    name = section_name(section_of(post.pk))
    sitemap_mark_dirty(post_ids=[post.pk])
    doc = SitemapDocument.objects.get(name=name)
    from posts.sitemap import _store

    # Regeneration read version N; a publish marked the section again (N+1) before it stored.
    sitemap_mark_dirty(post_ids=[post.pk])
    assert _store(name, doc.dirty_version, "<urlset/>", 1, doc.updated_at) is False
    assert SitemapDocument.objects.get(name=name).is_dirty is True


def test_unpublished_changes_leave_the_sitemap(editor, django_capture_on_commit_callbacks):
    from posts.services import post_delete

    post = PostFactory(author=editor, slug="going-away")
    name = section_name(section_of(post.pk))
    sitemap_rebuild_all()
    assert "going-away" in SitemapDocument.objects.get(name=name).xml
    with django_capture_on_commit_callbacks(execute=True):  # UpdateSitemap runs eagerly
        post_delete(post_id=post.pk, by=editor)
    assert "going-away" not in SitemapDocument.objects.get(name=name).xml
