"""Opaque, signed keyset cursors for `?cursor=` pagination.

A cursor carries the sort-key values of one row (the last row of a page for `next`, the
first for `prev`), the direction, and a *binding*: a digest of the resource, the ordering and
the normalized filters it was made for. It is HMAC-SHA256 signed with
`settings.CURSOR_SIGNING_KEY`, so a client can neither forge a position nor replay a cursor
against other filters, another ordering or another endpoint; all of those are a 400
problem+json with code `invalid_cursor`.

The page itself is a keyset seek (`WHERE (a, id) < (:a, :id) ORDER BY a DESC, id DESC
LIMIT n+1`): page N costs what page 1 costs, and a walk over all pages while rows are
inserted or deleted never repeats a row and never skips one that existed throughout.

Usage (see posts.selectors for a full example)::

    spec = KeysetSpec(ordering=(("published_at", True), ("id", True)))
    binding = cursor_binding(resource="posts.v2", ordering="-published_at", filters=params)
    position = cursor_decode(token, binding=binding) if token else None
    rows = keyset_page(queryset, spec=spec, position=position, limit=limit)
    meta = rows.meta(binding=binding)  # {"next": ..., "prev": ...}
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_datetime

from core.errors import DomainError
from core.params import invalid_param, is_plain_int

CURSOR_VERSION = 1
# 128 bits of HMAC is plenty against forgery and keeps cursors short.
SIGNATURE_BYTES = 16
# Refuse bigger tokens before decoding anything. The project's orderings (timestamps and ids)
# mint under 150 chars; 2 KiB also holds four text keys of 40 characters of any script
# (UTF-8 in the payload: up to 4 bytes each, not the 12 of a JSON escape pair).
MAX_CURSOR_CHARS = 2048

NEXT = "n"
PREV = "p"


class InvalidCursor(DomainError):
    status_code = 400
    code = "invalid_cursor"
    title = "Invalid cursor"


@dataclass(frozen=True)
class CursorPosition:
    """A decoded cursor: sort-key values of the boundary row and which way to read."""

    values: tuple[Any, ...]
    direction: str  # NEXT or PREV


@dataclass(frozen=True)
class KeysetSpec:
    """The ordering as ((field, is_descending), ...); the last field must be unique (the id)."""

    ordering: tuple[tuple[str, bool], ...]
    # Columns pinned by the filters (e.g. status, category_id) that lead the index. They are
    # prepended to ORDER BY so MariaDB reads the index range in order; see `pinned`.
    leading: tuple[str, ...] = ()

    def order_by(self, *, reverse: bool = False) -> list[str]:
        first_descending = self.ordering[0][1] != reverse
        terms = [f"-{field}" if first_descending else field for field in self.leading]
        for field, descending in self.ordering:
            is_descending = descending != reverse
            terms.append(f"-{field}" if is_descending else field)
        return terms

    def seek(self, values: Sequence[Any], *, reverse: bool = False) -> Q:
        """Rows strictly after `values` in this ordering (before them when `reverse`).

        Expanded as (a < x) OR (a = x AND b < y): MariaDB turns it into index ranges.
        """
        condition = Q()
        for depth in range(len(self.ordering) - 1, -1, -1):
            field, descending = self.ordering[depth]
            is_descending = descending != reverse
            lookup = "lt" if is_descending else "gt"
            term = Q(**{f"{field}__{lookup}": values[depth]})
            equal = Q(**{self.ordering[i][0]: values[i] for i in range(depth)})
            branch = equal & term if depth else term
            condition = branch | condition if condition else branch
        return condition

    def with_leading(self, *fields: str) -> KeysetSpec:
        return KeysetSpec(ordering=self.ordering, leading=tuple(fields))

    def key_of(self, row: Any) -> tuple[Any, ...]:
        get: Callable[[Any, str], Any] = (
            (lambda r, f: r[f]) if isinstance(row, Mapping) else (lambda r, f: getattr(r, f))
        )
        return tuple(get(row, field) for field, _ in self.ordering)


def pinned(**values: Any) -> Q:
    """Equality written as a one-point range (`a >= v AND a <= v`).

    With plain `a = v` MariaDB 10.11 picks `ref` access on the index prefix and walks it from
    the start, filtering every row before the seek position: page N then costs O(N). As a
    range (plus `KeysetSpec.leading` in ORDER BY) the optimizer uses one range over
    (a, published_at, id) and reads exactly limit+1 entries.
    """
    condition = Q()
    for field, value in values.items():
        condition &= Q(**{f"{field}__gte": value, f"{field}__lte": value})
    return condition


# --------------------------------------------------------------------------- signing


def _key() -> bytes:
    return hashlib.sha256(b"core.cursor:" + settings.CURSOR_SIGNING_KEY.encode()).digest()


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def cursor_binding(
    *, resource: str, ordering: str, filters: Mapping[str, Any] | None = None
) -> str:
    """A short digest naming what a cursor is valid for (resource, ordering, filter values)."""
    normalized = {key: str(value) for key, value in sorted((filters or {}).items()) if value}
    material = json.dumps([resource, ordering, normalized], separators=(",", ":"))
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        parsed = parse_datetime(str(value.get("t", "")))
        if parsed is None:
            raise InvalidCursor("The cursor is malformed.")
        return parsed
    if value is None or isinstance(value, int | str | float):
        return value
    raise InvalidCursor("The cursor is malformed.")


def cursor_encode(*, values: Sequence[Any], direction: str, binding: str) -> str:
    """An opaque, signed cursor string for one boundary row."""
    payload = json.dumps(
        {
            "v": CURSOR_VERSION,
            "k": [_encode_value(v) for v in values],
            "d": direction,
            "b": binding,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    signature = hmac.new(_key(), payload, hashlib.sha256).digest()[:SIGNATURE_BYTES]
    return f"{_b64encode(payload)}.{_b64encode(signature)}"


def cursor_decode(token: str, *, binding: str, key_length: int | None = None) -> CursorPosition:
    """Verify and decode a cursor; raises InvalidCursor (400) when it was tampered with,
    truncated, minted elsewhere, or made for other filters/ordering (`binding` differs)."""
    if not token or len(token) > MAX_CURSOR_CHARS or token.count(".") != 1:
        raise InvalidCursor("The cursor is malformed.")
    body, signature = token.split(".")
    try:
        payload = _b64decode(body)
        given = _b64decode(signature)
    except (binascii.Error, ValueError):
        raise InvalidCursor("The cursor is malformed.") from None
    expected = hmac.new(_key(), payload, hashlib.sha256).digest()[:SIGNATURE_BYTES]
    if not hmac.compare_digest(given, expected):
        raise InvalidCursor("The cursor signature does not match; it was altered or truncated.")
    try:
        data = json.loads(payload)
    except ValueError:
        raise InvalidCursor("The cursor is malformed.") from None
    if not isinstance(data, dict) or data.get("v") != CURSOR_VERSION:
        raise InvalidCursor("The cursor version is not supported.")
    if data.get("b") != binding:
        raise InvalidCursor(
            "The cursor was made for another ordering or other filters; start from page one."
        )
    values = data.get("k")
    direction = data.get("d")
    if not isinstance(values, list) or direction not in (NEXT, PREV):
        raise InvalidCursor("The cursor is malformed.")
    if key_length is not None and len(values) != key_length:
        raise InvalidCursor("The cursor is malformed.")
    return CursorPosition(values=tuple(_decode_value(v) for v in values), direction=direction)


# --------------------------------------------------------------------------- pages


@dataclass
class KeysetPage:
    rows: list[Any]
    has_next: bool
    has_prev: bool
    spec: KeysetSpec

    def cursors(self, *, binding: str) -> dict[str, str | None]:
        """`meta.cursor`: opaque next/prev strings, null at either end."""
        next_cursor = prev_cursor = None
        if self.rows and self.has_next:
            next_cursor = cursor_encode(
                values=self.spec.key_of(self.rows[-1]), direction=NEXT, binding=binding
            )
        if self.rows and self.has_prev:
            prev_cursor = cursor_encode(
                values=self.spec.key_of(self.rows[0]), direction=PREV, binding=binding
            )
        return {"next": next_cursor, "prev": prev_cursor}


def keyset_page(
    queryset: QuerySet[Any],
    *,
    spec: KeysetSpec,
    position: CursorPosition | None,
    limit: int,
    fetch: Callable[[QuerySet[Any]], list[Any]] = list,
) -> KeysetPage:
    """One page by keyset seek: a single query of `limit + 1` rows, never an OFFSET.

    `fetch` turns the sliced queryset into rows (e.g. `list` or a values() loader) so the
    caller decides which columns are selected.
    """
    if position is None:
        rows = fetch(queryset.order_by(*spec.order_by())[: limit + 1])
        return KeysetPage(rows=rows[:limit], has_next=len(rows) > limit, has_prev=False, spec=spec)
    if position.direction == NEXT:
        seeked = queryset.filter(spec.seek(position.values)).order_by(*spec.order_by())
        rows = fetch(seeked[: limit + 1])
        return KeysetPage(rows=rows[:limit], has_next=len(rows) > limit, has_prev=True, spec=spec)
    seeked = queryset.filter(spec.seek(position.values, reverse=True)).order_by(
        *spec.order_by(reverse=True)
    )
    rows = fetch(seeked[: limit + 1])
    page = list(reversed(rows[:limit]))
    return KeysetPage(rows=page, has_next=True, has_prev=len(rows) > limit, spec=spec)


def cursor_meta(*, page: KeysetPage, binding: str, limit: int) -> dict[str, Any]:
    """The meta block a cursor-paginated response passes to `EnvelopeResponse(meta=...)`."""
    return {"cursor": page.cursors(binding=binding), "limit": limit}


def parse_limit(raw: str | None, *, default: int, maximum: int) -> int:
    """`?limit=`: an integer in 1..maximum, else a 400 listing the allowed range."""
    if raw is None or raw == "":
        return default
    if not is_plain_int(raw) or not 1 <= int(raw) <= maximum:
        raise invalid_param(
            "limit",
            f"Must be an integer between 1 and {maximum}.",
            detail=f"limit must be an integer between 1 and {maximum}.",
        )
    return int(raw)
