"""What a posts request asks for: field policies per audience, the v2 list query string
parsed and validated (400 problems for bad values), orderings and page limits. No queries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from core.cursor import KeysetSpec, cursor_binding, parse_limit
from core.fields import FieldPolicy, RelationPolicy, Selection, selection_parse
from core.params import invalid_param, is_plain_int

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
