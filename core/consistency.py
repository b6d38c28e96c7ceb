"""Read-your-writes: when a read must go to the primary despite replicas.

A request or job that wrote reads the primary for the rest of its unit of work
(`core.context`), and a user who wrote is pinned to the primary for REPLICA_PIN_SECONDS
through a coordination key (`db:v1:pin:{user_id}`), set after the response
(`core.middleware`) and read at authentication. `config.db_router` asks `must_read_primary`.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connections

from core import redis as coordination
from core.context import has_written_var, is_pinned_var

logger = logging.getLogger(__name__)

PRIMARY = "default"


def pin_key(user_id: int) -> str:
    return f"db:v1:pin:{user_id}"


def must_read_primary() -> bool:
    return has_written_var.get() or is_pinned_var.get() or connections[PRIMARY].in_atomic_block


def pin_user_to_primary(*, user_id: int) -> None:
    """After a write: this user's next requests read the primary for REPLICA_PIN_SECONDS."""
    if not settings.DATABASE_REPLICAS:
        return
    try:
        coordination.value_set(pin_key(user_id), b"1", ttl_seconds=settings.REPLICA_PIN_SECONDS)
    except coordination.CoordinationUnavailable:
        logger.warning("replica pin not stored: coordination down user_id=%s", user_id)


def apply_user_pin(*, user_id: int) -> None:
    """At authentication: if the user wrote recently, read the primary for this request."""
    if not settings.DATABASE_REPLICAS:
        return
    try:
        if coordination.value_get(pin_key(user_id)) is not None:
            is_pinned_var.set(True)
    except coordination.CoordinationUnavailable:
        is_pinned_var.set(True)  # can't tell: the primary is always correct
