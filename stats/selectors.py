"""Read-only views of the stats entry for other apps (monitoring reads this for its gauges)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from core import redis as coordination
from stats import keys
from stats.services import now_ms, process_copy


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="seconds")


def _timestamps(key: str) -> tuple[int, int] | None:
    raw = coordination.call(lambda r: r.hmget(key, ["computed_at", "fresh_until"]))
    if raw[0] is None or raw[1] is None:
        return None
    return int(raw[0]), int(raw[1])


def stats_entry_status(*, at_ms: int | None = None) -> dict[str, Any]:
    """Where the stats entry stands, without its body (two HMGETs, no database).

    Keys: `has_entry`, `has_lkg`, `is_stale`, `age_seconds` (float, None without an entry),
    `computed_at` / `fresh_until` (ISO-8601 UTC or None), `source` ("redis" or "process":
    embedded mode or coordination Redis unreachable, where this process's copy is reported).
    """
    current_ms = now_ms() if at_ms is None else at_ms
    entry: tuple[int, int] | None
    has_lkg: bool
    source = "redis"
    try:
        if not coordination.is_configured():
            raise coordination.CoordinationUnavailable("embedded")
        entry = _timestamps(keys.ENTRY_KEY)
        has_lkg = _timestamps(keys.LKG_KEY) is not None
    except coordination.CoordinationUnavailable:
        source = "process"
        held = process_copy.snapshot
        entry = (held.computed_at_ms, held.fresh_until_ms) if held is not None else None
        has_lkg = entry is not None
    if entry is None:
        return {
            "has_entry": False,
            "has_lkg": has_lkg,
            "is_stale": True,
            "age_seconds": None,
            "computed_at": None,
            "fresh_until": None,
            "source": source,
        }
    computed_at_ms, fresh_until_ms = entry
    return {
        "has_entry": True,
        "has_lkg": has_lkg,
        "is_stale": current_ms >= fresh_until_ms,
        "age_seconds": max(0.0, (current_ms - computed_at_ms) / 1000),
        "computed_at": _iso(computed_at_ms),
        "fresh_until": _iso(fresh_until_ms),
        "source": source,
    }
