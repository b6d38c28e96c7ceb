"""Redis keys of the monitoring app (coordination role), with their TTLs."""

from __future__ import annotations

# Per-minute request aggregates, summed over every process (hash per epoch minute).
AGGREGATE_TTL_SECONDS = 2 * 3600  # the ops charts show the last hour; keep one spare
# Gauges precomputed by monitoring.jobs.refresh_gauges (one JSON document).
SNAPSHOT_KEY = "monitoring:v1:snapshot"
SNAPSHOT_TTL_SECONDS = 15 * 60
# Last success per beat schedule (hash schedule -> epoch seconds).
BEAT_SUCCESS_KEY = "monitoring:v1:beat_success"
# Slowest recent queries (list of JSON, newest first, capped).
SLOW_QUERIES_KEY = "monitoring:v1:slow_queries"
SLOW_QUERIES_KEPT = 50


def aggregate_key(minute: int) -> str:
    """`minute` is the epoch minute (int(epoch_seconds // 60))."""
    return f"monitoring:v1:agg:{minute}"
