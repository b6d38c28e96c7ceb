"""Every Redis key of the tasks app, with its TTL (ARCHITECTURE.md lists them)."""

from __future__ import annotations

from datetime import date

# Coordination role (never evicted).
GLOBAL_STATISTICS_KEY = "tasks:v1:stats:global"
# A write schedules one statistics re-warm per user in this window (debounce).
STATS_WARM_DEBOUNCE_SECONDS = 5
# Marks a (kind, zone, local date) fan-out as enqueued so later beat ticks skip the scan;
# kept past the catch-up window. The ledger rows, not this marker, guarantee "at most once".
FANOUT_DONE_TTL_SECONDS = 2 * 86_400


def generation_key(user_id: int) -> str:
    """Per-user cache generation (coordination): bumped after every committed change."""
    return f"tasks:v1:gen:{user_id}"


def stats_warm_key(user_id: int) -> str:
    return f"tasks:v1:warm:{user_id}"


def fanout_done_key(*, kind: str, zone: str, local_date: date) -> str:
    return f"tasks:v1:fanout:{kind}:{zone}:{local_date.isoformat()}"


# Cache role (may evict; TTLs from settings TASKS_LIST_CACHE_SECONDS / TASKS_STATS_CACHE_SECONDS).


def list_key(*, user_id: int, generation: int, query_hash: str) -> str:
    return f"tasks:v1:list:{user_id}:{generation}:{query_hash}"


def stats_key(*, user_id: int, generation: int, local_date: date) -> str:
    # The local date is part of the key: "completed today" rolls over at the user's midnight.
    return f"tasks:v1:stats:{user_id}:{generation}:{local_date.isoformat()}"
