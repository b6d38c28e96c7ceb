"""Counters and the refresh histogram of GET /api/stats (prometheus_client).

The monitoring app owns the gauges (entry age), the `stats_refresh_seconds` histogram
(recorded through `refresh_observed` below) and the /api/metrics endpoint; it reads
`stats.selectors.stats_entry_status()` for the gauges. Everything here is in-process (or the
multiprocess directory under gunicorn): recording never touches Redis.
"""

from __future__ import annotations

from prometheus_client import Counter

from monitoring import metrics as monitoring_metrics

STATS_HITS = Counter("stats_cache_hits", "GET /api/stats served from a fresh entry.")
STATS_STALE_SERVES = Counter(
    "stats_stale_serves", "GET /api/stats served from a stale entry (refresh enqueued once)."
)
STATS_LKG_SERVES = Counter(
    "stats_lkg_serves", "GET /api/stats served from the last-known-good copy on a cold miss."
)
STATS_MISSES = Counter("stats_cache_misses", "GET /api/stats computed in the request (cold).")
STATS_LOCK_WAITS = Counter(
    "stats_lock_waits", "Cold requests that waited for another process's computation."
)
STATS_UNAVAILABLE = Counter(
    "stats_unavailable", "GET /api/stats answered 503: nothing servable within its budget."
)
STATS_REFRESH_ENQUEUED = Counter(
    "stats_refresh_enqueued", "Refresh jobs published from the request path (stale entry)."
)
_BY_RESULT = {
    "HIT": STATS_HITS,
    "STALE": STATS_STALE_SERVES,
    "LKG": STATS_LKG_SERVES,
    "MISS": STATS_MISSES,
}


def served(*, result: str) -> None:
    """Count one response by its X-Cache value (HIT, STALE, LKG, MISS)."""
    counter = _BY_RESULT.get(result)
    if counter is not None:
        counter.inc()
        # Feeds cache_requests_total / cache_hit_ratio: only a cold compute is a miss.
        monitoring_metrics.cache_request(cache="stats", is_hit=result != "MISS")


def unavailable() -> None:
    STATS_UNAVAILABLE.inc()


def lock_waited() -> None:
    STATS_LOCK_WAITS.inc()


def refresh_enqueued() -> None:
    STATS_REFRESH_ENQUEUED.inc()


def refresh_observed(*, seconds: float) -> None:
    """Record one computation of the aggregates (monitoring's stats_refresh_seconds)."""
    monitoring_metrics.stats_refresh_observe(seconds=seconds)
