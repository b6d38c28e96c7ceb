"""Reads of posts: field policies, column selection, v2 cursor pages, details, v1 shapes.

Rows are loaded with `.values(*columns)` so exactly the selected fields' columns (plus the
ordering and relation keys) are read; each included relation is one extra query by id
(prefetch style), so the statements per page are constant whatever the limit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import Http404
from django.utils.dateparse import parse_datetime

from core.cursor import (
    KeysetPage,
    KeysetSpec,
    cursor_binding,
    cursor_decode,
    cursor_meta,
    keyset_page,
    parse_limit,
    pinned,
)
from core.fields import FieldPolicy, RelationPolicy, Selection, selection_parse
from core.params import invalid_param, is_plain_int
from posts.models import Category, Post, PostTag, Tag

User = get_user_model()

PUBLIC_FIELDS = (
    "id",
    "title",
    "slug",
    "body",
    "published_at",
    "updated_at",
    "author_id",
    "category_id",
    "tag_ids",
)
# Internal state only editors and admins may select.
STAFF_FIELDS = (*PUBLIC_FIELDS, "status", "created_at", "view_count")
RELATIONS = {
    "author": RelationPolicy(fields=("id", "name"), id_field="author_id"),
    "category": RelationPolicy(fields=("id", "name", "slug"), id_field="category_id"),
    "tags": RelationPolicy(fields=("id", "name", "slug"), id_field="tag_ids"),
}
PUBLIC_POLICY = FieldPolicy(fields=PUBLIC_FIELDS, relations=RELATIONS)
STAFF_POLICY = FieldPolicy(fields=STAFF_FIELDS, relations=RELATIONS)

# v1 always embeds author and category (and tags), with a fixed set of fields.
V1_SELECTION = Selection(
    fields=(
        "id",
        "title",
        "slug",
        "body",
        "published_at",
        "updated_at",
        "author",
        "category",
        "tags",
    ),
    includes={name: rel.fields for name, rel in RELATIONS.items()},
)

V2_DEFAULT_LIMIT = 20
V2_MAX_LIMIT = 100
ORDERINGS = {
    "-published_at": KeysetSpec(ordering=(("published_at", True), ("id", True))),
    "published_at": KeysetSpec(ordering=(("published_at", False), ("id", False))),
}
# The tag filter seeks on the PostTag copy of (status, published_at): its own index.
TAG_ORDERINGS = {
    "-published_at": KeysetSpec(ordering=(("published_at", True), ("post_id", True))),
    "published_at": KeysetSpec(ordering=(("published_at", False), ("post_id", False))),
}
FILTERS = ("category", "author", "tag", "published_after", "published_before")
V2_LIST_PARAMS = ("limit", "cursor", "ordering", "fields", "include", *FILTERS)
V2_DETAIL_PARAMS = ("fields", "include")


def is_staff(user: Any) -> bool:
    return bool(
        getattr(user, "is_authenticated", False) and getattr(user, "is_editor_or_admin", False)
    )


def audience_of(user: Any) -> str:
    return "staff" if is_staff(user) else "public"


def policy_for(user: Any) -> FieldPolicy:
    return STAFF_POLICY if is_staff(user) else PUBLIC_POLICY


def selection_for(*, user: Any, params: Mapping[str, str]) -> Selection:
    return selection_parse(
        fields_param=params.get("fields"),
        include_param=params.get("include"),
        policy=policy_for(user),
    )


# --------------------------------------------------------------------------- columns and shapes

_PLAIN_COLUMNS = {name: name for name in STAFF_FIELDS if name != "tag_ids"}
# Included author/category are loaded by id in one query each, not joined: at 1M posts and a
# few hundred authors MariaDB would drive a join from the small table and filesort every post.
_RELATION_KEYS = {"author": "author_id", "category": "category_id"}
_ORDER_COLUMNS = ("id", "published_at")


def columns_for(selection: Selection) -> list[str]:
    """The posts columns a selection needs: its fields, the keys of included relations, and
    the ordering keys. Nothing else is selected."""
    columns: list[str] = list(_ORDER_COLUMNS)
    for name in selection.fields:
        if name in _PLAIN_COLUMNS:
            columns.append(_PLAIN_COLUMNS[name])
    for relation in selection.includes:
        if relation in _RELATION_KEYS:
            columns.append(_RELATION_KEYS[relation])
    return list(dict.fromkeys(columns))


def _related(
    rows: Sequence[Mapping[str, Any]], *, selection: Selection
) -> dict[str, dict[int, dict[str, Any]]]:
    """One query per included author/category: {relation: {id: {sub-field: value}}}."""
    models = {"author": User, "category": Category}
    related: dict[str, dict[int, dict[str, Any]]] = {}
    for relation, key in _RELATION_KEYS.items():
        if relation not in selection.includes:
            continue
        ids = {row[key] for row in rows if row[key] is not None}
        subs = selection.includes[relation]
        related[relation] = (
            {
                item["id"]: {sub: item[sub] for sub in subs}
                for item in models[relation].objects.filter(pk__in=ids).values("id", *subs)
            }
            if ids
            else {}
        )
    return related


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value


def tags_for(*, post_ids: Sequence[int], selection: Selection) -> dict[int, list[Any]] | None:
    """One query for the page's tags (ids, or the included sub-fields); None if not needed."""
    if not post_ids:
        return {}
    if "tags" in selection.includes:
        subs = selection.includes["tags"]
        columns = ["post_id", *[f"tag__{sub}" if sub != "id" else "tag_id" for sub in subs]]
        by_post: dict[int, list[Any]] = {pid: [] for pid in post_ids}
        for row in (
            PostTag.objects.filter(post_id__in=list(post_ids))
            .order_by("post_id", "tag_id")
            .values(*columns)
        ):
            by_post[row["post_id"]].append(
                {sub: row["tag_id" if sub == "id" else f"tag__{sub}"] for sub in subs}
            )
        return by_post
    if "tag_ids" in selection.fields:
        by_post = {pid: [] for pid in post_ids}
        for post_id, tag_id in (
            PostTag.objects.filter(post_id__in=list(post_ids))
            .order_by("post_id", "tag_id")
            .values_list("post_id", "tag_id")
        ):
            by_post[post_id].append(tag_id)
        return by_post
    return None


def shape_row(
    row: Mapping[str, Any],
    *,
    selection: Selection,
    tags: Mapping[int, list] | None,
    related: Mapping[str, Mapping[int, dict[str, Any]]],
) -> dict:
    """One API object: exactly the selected fields, in the selected order."""
    out: dict[str, Any] = {}
    for name in selection.fields:
        if name in ("tags", "tag_ids"):
            out[name] = (tags or {}).get(row["id"], [])
        elif name in _RELATION_KEYS and name in selection.includes:
            key = row[_RELATION_KEYS[name]]
            out[name] = None if key is None else related[name].get(key)
        else:
            out[name] = _iso(row[_PLAIN_COLUMNS[name]])
    return out


def shape_rows(rows: Sequence[Mapping[str, Any]], *, selection: Selection) -> list[dict]:
    """API objects for a page of rows: + 1 query for tags, + 1 per included author/category."""
    tags = tags_for(post_ids=[row["id"] for row in rows], selection=selection)
    related = _related(rows, selection=selection)
    return [shape_row(row, selection=selection, tags=tags, related=related) for row in rows]


# --------------------------------------------------------------------------- v2 list


@dataclass(frozen=True)
class V2ListQuery:
    limit: int
    cursor: str | None
    ordering: str
    filters: Mapping[str, Any]
    selection: Selection

    def binding(self) -> str:
        return cursor_binding(
            resource="posts.v2.list", ordering=self.ordering, filters=self.filters
        )

    def cache_query(self, *, audience: str) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "cursor": self.cursor or "",
            "ordering": self.ordering,
            "selection": self.selection.cache_token(),
            "audience": audience,
            **{f"filter.{k}": v for k, v in self.filters.items()},
        }


def _parse_moment(name: str, raw: str) -> datetime:
    try:
        moment = parse_datetime(raw.replace(" ", "+"))
    except ValueError:  # well-formed but impossible (2026-02-30, +99:00)
        moment = None
    if moment is None:
        raise invalid_param(
            name,
            "Must be an ISO 8601 date-time, e.g. 2026-01-31T12:00:00Z.",
            detail=f"{name} must be an ISO 8601 date-time.",
        )
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def v2_list_query_parse(*, params: Mapping[str, str], user: Any) -> V2ListQuery:
    """Validate the v2 list query string (unknown parameters are rejected by the view)."""
    ordering = params.get("ordering") or "-published_at"
    if ordering not in ORDERINGS:
        raise invalid_param(
            "ordering",
            f"Allowed: {', '.join(ORDERINGS)}.",
            detail=f"ordering must be one of: {', '.join(ORDERINGS)}.",
        )
    filters: dict[str, Any] = {}
    for name in ("category", "tag"):
        if params.get(name):
            filters[name] = params[name]
    if params.get("author"):
        if not is_plain_int(params["author"]):
            raise invalid_param(
                "author", "Must be an integer user id.", detail="author must be a user id."
            )
        filters["author"] = int(params["author"])
    for name in ("published_after", "published_before"):
        if params.get(name):
            filters[name] = _parse_moment(name, params[name]).isoformat()
    return V2ListQuery(
        limit=parse_limit(params.get("limit"), default=V2_DEFAULT_LIMIT, maximum=V2_MAX_LIMIT),
        cursor=params.get("cursor") or None,
        ordering=ordering,
        filters=filters,
        selection=selection_for(user=user, params=params),
    )


def _dates(queryset: QuerySet, filters: Mapping[str, Any]) -> QuerySet:
    if "published_after" in filters:
        queryset = queryset.filter(
            published_at__gt=datetime.fromisoformat(filters["published_after"])
        )
    if "published_before" in filters:
        queryset = queryset.filter(
            published_at__lt=datetime.fromisoformat(filters["published_before"])
        )
    return queryset


def _slug_id(model: type, slug: str) -> int | None:
    return model.objects.filter(slug=slug).values_list("pk", flat=True).first()


def _post_seek_base(
    filters: Mapping[str, Any], spec: KeysetSpec
) -> tuple[QuerySet, KeysetSpec] | None:
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
) -> tuple[QuerySet, KeysetSpec] | None:
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


def _posts_in_order(ids: list[int], columns: list[str]) -> list[dict]:
    """The posts' selected columns, in the order of `ids` (one statement; none for no ids)."""
    if not ids:
        return []
    by_id = {row["id"]: row for row in Post.objects.filter(pk__in=ids).values(*columns)}
    return [by_id[post_id] for post_id in ids if post_id in by_id]


def post_page_v2(*, query: V2ListQuery) -> tuple[list[dict], dict[str, Any]]:
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
) -> dict:
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


def post_published_values(*, author_id: int | None = None) -> QuerySet:
    """v1 lists: published posts, newest first, as value rows for V1_SELECTION."""
    queryset = Post.objects.published()
    if author_id is not None:
        queryset = queryset.filter(author_id=author_id)
    return queryset.order_by("-published_at", "-id").values(*columns_for(V1_SELECTION))


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
    row["tags"] = list(
        Tag.objects.filter(posts=row["id"]).order_by("name").values_list("name", flat=True)
    )
    return row
