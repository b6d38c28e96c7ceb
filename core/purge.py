"""Deleting many rows without long locks: one short DELETE per pk-ordered chunk.

Used by every retention job (ledgers, alert events, outbox archive, expired tokens). On
MariaDB one statement per chunk keeps row locks, undo and binlog events small, so the
request path never waits behind a purge.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet


def rows_delete_in_chunks(queryset: QuerySet[Any], *, chunk_size: int, raw: bool = False) -> int:
    """Delete the rows `queryset` selects, `chunk_size` at a time in pk order, and return how
    many of them were deleted (cascaded rows not counted). Ids are read where `queryset`
    reads; the DELETE goes where the router sends writes. `raw=True` skips Django's cascade
    collection: only for rows nothing references."""
    model = queryset.model
    deleted = 0
    while True:
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:chunk_size])
        if not ids:
            return deleted
        chunk = model._default_manager.filter(pk__in=ids)
        if raw:
            deleted += chunk._raw_delete(chunk.db)
        else:
            deleted += chunk.delete()[1].get(model._meta.label, 0)
