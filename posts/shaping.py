"""Row shaping for posts: the columns a field selection needs, and rows turned into API
objects (exactly the selected fields, in order), with tags and included author/category
loaded by id in one query each (no joins: see the note on _RELATION_KEYS)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from core.fields import Selection
from posts.models import Category, PostTag
from posts.queries import STAFF_FIELDS

User = get_user_model()

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
    querysets: dict[str, QuerySet[Any]] = {
        "author": User.objects.all(),
        "category": Category.objects.all(),
    }
    related: dict[str, dict[int, dict[str, Any]]] = {}
    for relation, key in _RELATION_KEYS.items():
        if relation not in selection.includes:
            continue
        ids = {row[key] for row in rows if row[key] is not None}
        subs = selection.includes[relation]
        related[relation] = (
            {
                item["id"]: {sub: item[sub] for sub in subs}
                for item in querysets[relation].filter(pk__in=ids).values("id", *subs)
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
    tags: Mapping[int, list[Any]] | None,
    related: Mapping[str, Mapping[int, dict[str, Any]]],
) -> dict[str, Any]:
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


def shape_rows(rows: Sequence[Mapping[str, Any]], *, selection: Selection) -> list[dict[str, Any]]:
    """API objects for a page of rows: + 1 query for tags, + 1 per included author/category."""
    tags = tags_for(post_ids=[row["id"] for row in rows], selection=selection)
    related = _related(rows, selection=selection)
    return [shape_row(row, selection=selection, tags=tags, related=related) for row in rows]
