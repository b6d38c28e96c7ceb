"""Prometheus metrics of the posts app (exposed by the monitoring app's scrape endpoint)."""

from __future__ import annotations

from prometheus_client import Counter

VIEWS_DROPPED = Counter(
    "posts_views_dropped_total",
    "Post views not counted because the coordination Redis was unreachable.",
)
VIEWS_FLUSHED = Counter(
    "posts_views_flushed_total", "Post views applied to Post.view_count by the flush job."
)
LISTENER_RUNS = Counter(
    "posts_listener_runs_total", "Post event listener outcomes.", ["listener", "outcome"]
)
SITEMAP_REGENERATIONS = Counter(
    "posts_sitemap_regenerations_total", "Sitemap sections regenerated."
)


def view_dropped() -> None:
    VIEWS_DROPPED.inc()


def views_dropped_total() -> float:
    value: float = VIEWS_DROPPED._value.get()
    return value
