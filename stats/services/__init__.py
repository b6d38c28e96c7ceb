"""Stats services: the entry (`entry`: compute, store, refresh) and serving it (`serving`)."""

from __future__ import annotations

from stats.services.entry import (
    Snapshot,
    now_ms,
    process_copy,
    stats_compute,
    stats_entry_store,
    stats_refresh,
)
from stats.services.serving import HIT, LKG, MISS, STALE, Outcome, stats_serve

__all__ = [
    "HIT",
    "LKG",
    "MISS",
    "STALE",
    "Outcome",
    "Snapshot",
    "now_ms",
    "process_copy",
    "stats_compute",
    "stats_entry_store",
    "stats_refresh",
    "stats_serve",
]
