"""The limiter's Prometheus counters, declared in core so the limiter needs no app.

They live on prometheus_client's default registry like every other metric, so
`/api/metrics` exposes them unchanged; `monitoring.metrics` pre-initialises their label
sets (one per RATE_LIMITS scope) and re-exports them for dashboards and tests.
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


def limiter_fail_open(*, scope: str) -> None:
    """Count a limiter decision made in process because Redis was unreachable."""
    limiter_fail_open_decisions.labels(scope=scope).inc()


def rate_limited(*, scope: str) -> None:
    """Count a request refused by the limiter."""
    rate_limited_requests.labels(scope=scope).inc()
