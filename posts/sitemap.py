"""The stored sitemap: `/sitemap.xml` is an index over sections of ≤ 50,000 URLs.

Section n holds the published posts with ids in [n*50,000+1, (n+1)*50,000], so a section can
never exceed the protocol's 50,000-URL limit and a post always lives in the same section.
A post change marks only its section dirty; one coalesced job regenerates the dirty sections
and the index. Requests read the stored XML (one primary-key lookup), never rebuild it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core import redis as coordination
from core.jobs import enqueue
from posts import keys, metrics
from posts.models import Post, SitemapDocument

logger = logging.getLogger(__name__)

# The sitemap protocol's limit per file (sitemaps.org): 50,000 URLs.
SECTION_SIZE = 50_000
INDEX_NAME = "index"
_XMLNS = "http://www.sitemaps.org/schemas/sitemap/0.9"


def section_of(post_id: int) -> int:
    return (post_id - 1) // SECTION_SIZE


def section_name(number: int) -> str:
    return f"section-{number}"


def _w3c(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sitemap_mark_dirty(*, post_ids: Iterable[int]) -> list[str]:
    """Mark the sections holding these posts dirty (and the index). Returns the names."""
    names = [*sorted({section_name(section_of(pid)) for pid in post_ids}), INDEX_NAME]
    with transaction.atomic(using="default"):
        for name in names:
            updated = SitemapDocument.objects.filter(name=name).update(
                is_dirty=True, dirty_version=F("dirty_version") + 1
            )
            if not updated:
                SitemapDocument.objects.get_or_create(
                    name=name, defaults={"is_dirty": True, "dirty_version": 1}
                )
    return names


def sitemap_schedule_regeneration() -> bool:
    """Schedule one regeneration POSTS_SITEMAP_COALESCE_SECONDS from now unless one is already pending.

    Returns True when this call scheduled it. Redis down → schedule anyway (no coalescing).
    """
    # Publishes within this window share one regeneration (100 publishes a minute → a handful).
    window = settings.POSTS_SITEMAP_COALESCE_SECONDS
    try:
        if not coordination.value_set(keys.SITEMAP_PENDING, "1", ttl_seconds=window * 6, nx=True):
            return False
    except coordination.CoordinationUnavailable:
        logger.warning("sitemap coalescing unavailable; scheduling directly")
    try:
        enqueue("posts.jobs.regenerate_sitemap", countdown=window, strict=True)
    except Exception as exc:  # broker down: drop the pending flag so the next mark retries
        logger.warning("sitemap regeneration not scheduled error=%s", exc)
        _clear_pending()
        raise
    return True


def _clear_pending() -> None:
    with contextlib.suppress(coordination.CoordinationUnavailable):
        coordination.value_delete(keys.SITEMAP_PENDING)


def _section_xml(number: int) -> tuple[str, int]:
    low, high = number * SECTION_SIZE + 1, (number + 1) * SECTION_SIZE
    rows = (
        Post.objects.using("default")
        .published()
        .filter(pk__gte=low, pk__lte=high)
        .order_by("pk")
        .values_list("slug", "updated_at")
    )
    base = settings.SITE_URL.rstrip("/")
    parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="{_XMLNS}">']
    count = 0
    for slug, updated_at in rows.iterator(chunk_size=5_000):
        parts.append(
            f"<url><loc>{escape(f'{base}/posts/{slug}')}</loc>"
            f"<lastmod>{_w3c(updated_at)}</lastmod></url>"
        )
        count += 1
    parts.append("</urlset>\n")
    return "\n".join(parts), count


def _index_xml(now: datetime) -> str:
    base = settings.SITE_URL.rstrip("/")
    sections = (
        SitemapDocument.objects.using("default")
        .filter(name__startswith="section-", url_count__gt=0)
        .values_list("name", "updated_at")
    )
    ordered = sorted(sections, key=lambda item: int(item[0].split("-", 1)[1]))
    parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex xmlns="{_XMLNS}">']
    for name, updated_at in ordered:
        parts.append(
            f"<sitemap><loc>{escape(f'{base}/sitemap-{name}.xml')}</loc>"
            f"<lastmod>{_w3c(updated_at)}</lastmod></sitemap>"
        )
    parts.append("</sitemapindex>\n")
    return "\n".join(parts)


def _store(name: str, version: int, xml: str, count: int, now: datetime) -> bool:
    """Store a regenerated document; clears `is_dirty` only if no mark arrived meanwhile."""
    SitemapDocument.objects.filter(name=name).update(
        xml=xml, url_count=count, updated_at=now, regenerations=F("regenerations") + 1
    )
    return bool(
        SitemapDocument.objects.filter(name=name, dirty_version=version).update(is_dirty=False)
    )


def sitemap_regenerate(*, now: datetime | None = None) -> list[str]:
    """Regenerate the dirty sections, then the index. Returns the names regenerated."""
    _clear_pending()  # marks from now on schedule a fresh run
    now = now or timezone.now()
    dirty = list(
        SitemapDocument.objects.using("default")
        .filter(is_dirty=True)
        .values_list("name", "dirty_version")
    )
    done: list[str] = []
    for name, version in sorted(dirty, key=lambda item: item[0] == INDEX_NAME):
        if name == INDEX_NAME:
            continue
        xml, count = _section_xml(int(name.split("-", 1)[1]))
        _store(name, version, xml, count, now)
        done.append(name)
    if dirty:
        index_version = next((v for n, v in dirty if n == INDEX_NAME), None)
        if index_version is None:
            SitemapDocument.objects.get_or_create(name=INDEX_NAME)
            index_version = SitemapDocument.objects.get(name=INDEX_NAME).dirty_version
        _store(INDEX_NAME, index_version, _index_xml(now), len(done), now)
        done.append(INDEX_NAME)
    metrics.SITEMAP_REGENERATIONS.inc(len(done))
    logger.info("sitemap regenerated documents=%s", ",".join(done) or "-")
    return done


def sitemap_rebuild_all(*, now: datetime | None = None) -> list[str]:
    """Mark every section that has published posts dirty and regenerate (first deploy, repair)."""
    last = Post.objects.using("default").published().order_by("-pk").values_list("pk", flat=True)
    highest = last.first() or 0
    sitemap_mark_dirty(post_ids=range(1, highest + 1, SECTION_SIZE))
    return sitemap_regenerate(now=now)


def sitemap_document(*, name: str) -> str | None:
    """The stored XML of `index` or `section-<n>`; None when it doesn't exist."""
    row = SitemapDocument.objects.filter(name=name).values_list("xml", flat=True).first()
    if row is None and name == INDEX_NAME:
        return f'<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex xmlns="{_XMLNS}">\n</sitemapindex>\n'
    return row or None
