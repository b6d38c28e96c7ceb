"""The Prometheus counters of core's limiter and cache, declared here so core needs no app.

They live on prometheus_client's default registry like every other metric, so
`/api/metrics` exposes them unchanged; `monitoring.metrics` pre-initialises their label
sets (one per RATE_LIMITS scope, one per single-flight result) and re-exports them for
dashboards and tests.
"""

from __future__ import annotations

from prometheus_client import Counter

rate_limited_requests = Counter(
    "rate_limited", "Requests refused by the rate limiter, by scope.", ["scope"]
)
limiter_fail_open_decisions = Counter(
    "limiter_fail_open",
    "Limiter decisions made in process because the coordination Redis was unreachable.",
    ["scope"],
)


# Results of core.cache's single flight for a request that did not hold the lock.
CACHE_FLIGHT_RESULTS = ("waited", "timeout", "unavailable")
cache_flight_results = Counter(
    "cache_flight",
    "Cache misses not computed under the single-flight lock: served what the holder filled "
    "(waited), or computed unlocked once the wait budget was spent (timeout) or the "
    "coordination Redis failed (unavailable).",
    ["result"],
)


def cache_flight(*, result: str) -> None:
    """Count a miss that did not compute as the lock holder, by how it was answered."""
    cache_flight_results.labels(result=result).inc()


def limiter_fail_open(*, scope: str) -> None:
    """Count a limiter decision made in process because Redis was unreachable."""
    limiter_fail_open_decisions.labels(scope=scope).inc()


def rate_limited(*, scope: str) -> None:
    """Count a request refused by the limiter."""
    rate_limited_requests.labels(scope=scope).inc()
