"""Coordination Redis keys of the stats entry (see ARCHITECTURE.md) and their lifetimes."""

from __future__ import annotations

from django.conf import settings

# Hash {body, etag, computed_at, fresh_until}: the rendered response and its timing (ms).
ENTRY_KEY = "stats:v1:entry"
# Same shape; outlives the entry so a cold miss under load has something to serve.
LKG_KEY = "stats:v1:lkg"
# Single-flight compute lock (token-checked SET NX PX).
LOCK_KEY = "stats:v1:lock"
# Enqueue guard: at most one refresh job per stale period (separate from the compute lock).
REFRESH_GUARD_KEY = "stats:v1:refresh"

# Hard time limit of stats.jobs.refresh_stats_snapshot; the enqueue guard lives this long.
REFRESH_JOB_TIME_LIMIT_SECONDS = 60
REFRESH_JOB_SOFT_TIME_LIMIT_SECONDS = 50


def lkg_ttl_seconds() -> int:
    return settings.STATS_LKG_MAX_AGE_SECONDS
