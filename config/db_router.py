"""Primary/replica routing for every query in the project.

- Writes and migrations go to `default` (the primary).
- Reads go to a random healthy replica, except when they must see a write:
  inside `atomic()` on the primary, after any write in the same request or job
  (a context variable reset per request and per job), and for REPLICA_PIN_SECONDS after
  the user's last write (a coordination key read at authentication), so the next request
  and any cache fill see the user's own write despite replica lag. That pin is
  `core.consistency` (`must_read_primary`, `pin_user_to_primary`, `apply_user_pin`).
- A replica that fails to connect is skipped in this process for REPLICA_DOWN_SECONDS and
  reads fall back to `default`; a dead replica never fails a read.
- No replicas configured → everything goes to `default`.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connections

from core.consistency import PRIMARY, must_read_primary
from core.context import has_written_var

logger = logging.getLogger(__name__)

_down_until: dict[str, float] = {}
_down_lock = threading.Lock()


def mark_replica_down(alias: str) -> None:
    with _down_lock:
        _down_until[alias] = time.monotonic() + settings.REPLICA_DOWN_SECONDS
    logger.warning("replica marked down alias=%s seconds=%s", alias, settings.REPLICA_DOWN_SECONDS)


def healthy_replicas() -> list[str]:
    now = time.monotonic()
    return [alias for alias in settings.DATABASE_REPLICAS if _down_until.get(alias, 0) <= now]


def _is_reachable(alias: str) -> bool:
    """Open (or re-validate) the replica connection now, so a dead replica is noticed here and
    the read falls back, instead of failing later inside the query. A persistent connection is
    health-checked once per request (CONN_HEALTH_CHECKS), as Django would do at first use."""
    connection = connections[alias]
    try:
        connection.close_if_health_check_failed()
        connection.ensure_connection()
    except DatabaseError:
        mark_replica_down(alias)
        return False
    return True


class PrimaryReplicaRouter:
    def db_for_read(self, model: Any, **hints: Any) -> str:
        if not settings.DATABASE_REPLICAS or must_read_primary():
            return PRIMARY
        candidates = healthy_replicas()
        random.shuffle(candidates)
        for alias in candidates:
            if _is_reachable(alias):
                return alias
        return PRIMARY

    def db_for_write(self, model: Any, **hints: Any) -> str:
        has_written_var.set(True)
        return PRIMARY

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # replicas mirror the primary: every object lives in the same database

    def allow_migrate(
        self, db: str, app_label: str, model_name: str | None = None, **hints: Any
    ) -> bool:
        return db == PRIMARY
