"""Reads of posts: v2 cursor pages, details, v1 rows, the public page.

Rows are loaded with `.values(*columns)` so exactly the selected fields' columns (plus the
ordering and relation keys) are read (posts.shaping); each included relation is one extra
query by id (prefetch style), so the statements per page are constant whatever the limit.
What a request asks for (fields, filters, ordering, limit) is parsed in posts.queries.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from core.cursor import (
    KeysetPage,
    KeysetSpec,
    cursor_decode,
    cursor_meta,
    keyset_page,
    pinned,
)
from core.fields import Selection
from posts.models import Category, Post, PostTag, Tag
from posts.queries import ORDERINGS, TAG_ORDERINGS, V1_SELECTION, V2ListQuery
from posts.shaping import columns_for, shape_rows

# --------------------------------------------------------------------------- v2 list


def _dates(queryset: QuerySet[Any], filters: Mapping[str, Any]) -> QuerySet[Any]:
    if "published_after" in filters:
        queryset = queryset.filter(
            published_at__gt=datetime.fromisoformat(filters["published_after"])
        )
    if "published_before" in filters:
        queryset = queryset.filter(
            published_at__lt=datetime.fromisoformat(filters["published_before"])
        )
    return queryset


def _slug_id(model: type[Category] | type[Tag], slug: str) -> int | None:
    return model.objects.filter(slug=slug).values_list("pk", flat=True).first()


def _post_seek_base(
    filters: Mapping[str, Any], spec: KeysetSpec
) -> tuple[QuerySet[Any], KeysetSpec] | None:
    """Published posts under the filters, with the index prefix pinned (see core.cursor.pinned):
    (category_id, status, …) or (author_id, status, …) or (status, …). None: no such category."""
    published = Post.Status.PUBLISHED
    queryset = Post.objects.all()
    if "category" in filters:
        category_id = _slug_id(Category, filters["category"])
        if category_id is None:
            return None
        queryset = queryset.filter(pinned(category_id=category_id, status=published))
        spec = spec.with_leading("category_id", "status")
        if "author" in filters:
            queryset = queryset.filter(author_id=filters["author"])
    elif "author" in filters:
        queryset = queryset.filter(pinned(author_id=filters["author"], status=published))
        spec = spec.with_leading("author_id", "status")
    else:
        queryset = queryset.filter(pinned(status=published))
        spec = spec.with_leading("status")
    return _dates(queryset, filters), spec


def _tag_seek_base(
    filters: Mapping[str, Any], spec: KeysetSpec
) -> tuple[QuerySet[Any], KeysetSpec] | None:
    """PostTag rows of the tag, seeking on its (tag_id, status, published_at, post_id) index."""
    tag_id = _slug_id(Tag, filters["tag"])
    if tag_id is None:
        return None
    queryset = PostTag.objects.filter(pinned(tag_id=tag_id, status=Post.Status.PUBLISHED))
    if "category" in filters:
        queryset = queryset.filter(post__category__slug=filters["category"])
    if "author" in filters:
        queryset = queryset.filter(post__author_id=filters["author"])
    return _dates(queryset, filters), spec.with_leading("tag_id", "status")


def _posts_in_order(ids: list[int], columns: list[str]) -> list[dict[str, Any]]:
    """The posts' selected columns, in the order of `ids` (one statement; none for no ids)."""
    if not ids:
        return []
    by_id = {row["id"]: row for row in Post.objects.filter(pk__in=ids).values(*columns)}
    return [by_id[post_id] for post_id in ids if post_id in by_id]


def post_page_v2(*, query: V2ListQuery) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One cursor page of published posts: (objects, meta with cursor and limit).

    Statements: 1 (posts) + 1 per included author/category + 1 for tags when `tag_ids` or
    `tags` is selected; a category or tag filter adds its slug lookup, and a tag
    filter the PostTag seek. Never an OFFSET: any depth costs what page 1 costs.
    """
    binding = query.binding()
    position = cursor_decode(query.cursor, binding=binding, key_length=2) if query.cursor else None
    columns = columns_for(query.selection)
    # A tag filter seeks PostTag's own (tag, status, published_at) index, then loads the posts.
    is_tag_seek = "tag" in query.filters
    ordering = (TAG_ORDERINGS if is_tag_seek else ORDERINGS)[query.ordering]
    base = (_tag_seek_base if is_tag_seek else _post_seek_base)(query.filters, ordering)
    if base is None:
        empty = KeysetPage([], False, False, ordering)
        return [], cursor_meta(page=empty, binding=binding, limit=query.limit)
    seek_qs, spec = base
    fetched = ("post_id", "published_at") if is_tag_seek else columns
    page = keyset_page(
        seek_qs,
        spec=spec,
        position=position,
        limit=query.limit,
        fetch=lambda qs: list(qs.values(*fetched)),
    )
    rows = (
        _posts_in_order([row["post_id"] for row in page.rows], columns)
        if is_tag_seek
        else page.rows
    )
    data = shape_rows(rows, selection=query.selection)
    return data, cursor_meta(page=page, binding=binding, limit=query.limit)


# --------------------------------------------------------------------------- details


def post_detail(
    *,
    user: Any,
    selection: Selection,
    post_id: int | None = None,
    slug: str | None = None,
    using: str | None = None,
) -> dict[str, Any]:
    """One post as an API object; drafts only for editors and admins, else 404.
    `using="default"` right after a write (replica lag could hide it)."""
    queryset = (
        Post.objects.using(using).visible_to(user) if using else Post.objects.visible_to(user)
    )
    queryset = queryset.filter(pk=post_id) if post_id is not None else queryset.filter(slug=slug)
    rows = list(queryset.values(*columns_for(selection))[:1])
    if not rows:
        raise Http404("No such post.")
    return shape_rows(rows, selection=selection)[0]


def post_published_values(*, author_id: int | None = None) -> QuerySet[Any]:
    """v1 lists: published posts, newest first, as value rows for V1_SELECTION."""
    queryset = Post.objects.published()
    if author_id is not None:
        queryset = queryset.filter(author_id=author_id)
    values: QuerySet[Any] = queryset.order_by("-published_at", "-id").values(
        *columns_for(V1_SELECTION)
    )
    return values


def post_public_page(*, slug: str) -> dict[str, Any] | None:
    """What the public post page shows, for a published post; None for drafts and unknown slugs."""
    row = (
        Post.objects.published()
        .filter(slug=slug)
        .values(
            "id",
            "title",
            "slug",
            "body",
            "published_at",
            "updated_at",
            "author__name",
            "category__name",
        )
        .first()
    )
    if row is None:
        return None
    tags = Tag.objects.filter(posts=row["id"]).order_by("name").values_list("name", flat=True)
    return {**row, "tags": list(tags)}
