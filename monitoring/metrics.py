"""Prometheus metric objects, recording helpers and the exposition other apps rely on.

Multiprocess: with `PROMETHEUS_MULTIPROC_DIR` set (gunicorn with several workers, Celery
prefork), prometheus_client keeps every value in a per-process mmap file in that directory
and a scrape sums them, so any worker answers for all. The directory must be wiped when
the server starts and `mark_process_dead` called from gunicorn's `child_exit`
(`multiprocess_dir_reset` / `multiprocess_mark_dead` below; see docs/monitoring.md).

Request counters live in process memory (mmap in multiprocess mode): nothing here talks to
Redis. Gauges derived from other apps' state come from the snapshot `refresh_gauges` stores
(one Redis GET per scrape), never from a query run by the scrape.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric

# The limiter's and the cache's counters are declared in core (core imports no app); re-exported.
from core.metrics import CACHE_FLIGHT_RESULTS as CACHE_FLIGHT_RESULTS
from core.metrics import cache_flight as cache_flight
from core.metrics import cache_flight_results as cache_flight_results
from core.metrics import limiter_fail_open as limiter_fail_open
from core.metrics import limiter_fail_open_decisions as limiter_fail_open_decisions
from core.metrics import rate_limited as rate_limited
from core.metrics import rate_limited_requests as rate_limited_requests
from monitoring import aggregates
from monitoring.multiproc import multiprocess_dir
from monitoring.registry import gauges_registered

logger = logging.getLogger(__name__)

# `*_created` samples double the exposition and nothing here queries them.
disable_created_metrics()

MULTIPROC_DIR = multiprocess_dir()
if MULTIPROC_DIR:
    # Values are mmap files created as metrics are constructed: the directory must exist now.
    os.makedirs(MULTIPROC_DIR, exist_ok=True)

# Milliseconds; 1000 is ALERT_RESPONSE_TIME_MS, 250 the health probe budget.
LATENCY_BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
STATS_REFRESH_BUCKETS_SECONDS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
UNMATCHED_ROUTE = "<unmatched>"
CACHE_RESULTS = ("hit", "miss")
# Caches whose hit/miss counters exist from the start (others appear on first use).
KNOWN_CACHES = ("default", "stats", "tasks", "posts")
HEALTH_SERVICES = ("database", "replicas", "cache", "coordination", "queue")

http_requests = Counter(
    "http_requests",
    "HTTP requests by method, route template and status.",
    ["method", "route", "status"],
)
http_request_duration = Histogram(
    "http_request_duration_milliseconds",
    "Request latency in milliseconds by method and route template.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS_MS,
)
cache_requests = Counter(
    "cache_requests", "Cache lookups by cache and result (hit|miss).", ["cache", "result"]
)
stats_refresh = Histogram(
    "stats_refresh_seconds",
    "Duration of a stats entry refresh (compute + store), in seconds.",
    buckets=STATS_REFRESH_BUCKETS_SECONDS,
)
database_connections = Gauge(
    "database_connections",
    "Open database connections held by live processes, by alias.",
    ["alias"],
    multiprocess_mode="livesum",
)
memory_usage = Gauge(
    "memory_usage_bytes",
    "Resident memory of live processes, in bytes.",
    multiprocess_mode="livesum",
)

_preinit_lock = threading.Lock()
_preinitialised_pid: int | None = None
_connection_counts: dict[str, int] = {}


# --------------------------------------------------------------------------- recording helpers


def cache_request(*, cache: str, is_hit: bool) -> None:
    """Count one cache lookup; the hit ratio is derived from these counters at scrape time."""
    result = "hit" if is_hit else "miss"
    cache_requests.labels(cache=cache, result=result).inc()
    aggregates.record_cache(is_hit=is_hit)


def stats_refresh_observe(*, seconds: float) -> None:
    """Record how long one stats entry refresh took."""
    stats_refresh.observe(seconds)


_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def request_series(*, method: str, route: str, status: int) -> tuple[Any, Any]:
    """The (http_requests, http_request_duration) children of one label set. Unknown verbs
    share one label: a client must not be able to mint series."""
    method_label = method if method in _KNOWN_METHODS else "OTHER"
    return (
        http_requests.labels(method=method_label, route=route, status=str(status)),
        http_request_duration.labels(method=method_label, route=route),
    )


def request_observe(*, method: str, route: str, status: int, duration_ms: float) -> None:
    """Count one finished request (in process only)."""
    counter, histogram = request_series(method=method, route=route, status=status)
    counter.inc()
    histogram.observe(duration_ms)


# (method, route template, status) -> metric children, resolved once per process: `.labels()`
# takes a lock and builds tuples per metric (issue #12). Bounded by the URLconf, the known
# verbs and the status codes; _MAX_REQUEST_SERIES is a safety net far above that.
_request_series: dict[tuple[str, str | None, int], tuple[Any, Any]] = {}
_MAX_REQUEST_SERIES = 10_000


def request_record(*, method: str, route: str | None, status: int, duration_ms: float) -> None:
    """Count one finished request: the Prometheus series (by method, route template and
    status), the per-process minute aggregates, and the open-connection gauge. `route` is
    the resolver's route template (None: nothing matched). Every web request ends here,
    from the metrics middleware or the WSGI shortcut of /api/stats."""
    key = (method if method in _KNOWN_METHODS else "OTHER", route, status)
    series = _request_series.get(key)
    if series is None:
        series = request_series(method=key[0], route=route_label(route), status=status)
        if len(_request_series) < _MAX_REQUEST_SERIES:
            _request_series[key] = series
    series[0].inc()
    series[1].observe(duration_ms)
    aggregates.record_request(status=status, duration_ms=duration_ms)
    database_connections_update()


def database_connections_update() -> None:
    """Set this process's open-connection gauge; writes only when a count changed."""
    from django.db import connections

    for alias in connections:
        is_open = 1 if connections[alias].connection is not None else 0
        if _connection_counts.get(alias) != is_open:
            _connection_counts[alias] = is_open
            database_connections.labels(alias=alias).set(is_open)


def memory_usage_update() -> None:
    memory_usage.set(resident_memory_bytes())


def resident_memory_bytes() -> int:
    """RSS of this process (Linux /proc; ru_maxrss elsewhere)."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            pages = int(handle.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# --------------------------------------------------------------------------- route templates

_ROUTE_CLEAN_RE = re.compile(r"[\^$]|\\Z|\\A")


def route_label(route: str | None) -> str:
    """The label for a resolved route template: '/api/v1/tasks/<int:pk>', never a raw path."""
    if route is None:
        return UNMATCHED_ROUTE
    return "/" + _ROUTE_CLEAN_RE.sub("", route)


def _walk_routes(patterns: Iterable[Any], prefix: str = "") -> Iterator[str]:
    from django.urls import URLPattern, URLResolver

    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _walk_routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route


def known_routes() -> list[str]:
    """Route templates of the API and ops pages (admin routes are left to first use)."""
    from django.urls import get_resolver

    labels = {route_label(route) for route in _walk_routes(get_resolver().url_patterns)}
    return sorted(label for label in labels if label.startswith(("/api/", "/ops/")))


def preinitialise(*, include_routes: bool = True) -> None:
    """Create the label sets a dashboard or alert expects before their first use.

    Runs once per process (after a fork too): every API route for GET with 200 and 500
    (web processes only), every limiter scope, every single-flight result, every known
    cache's hit/miss and each database alias.
    """
    global _preinitialised_pid
    pid = os.getpid()
    if _preinitialised_pid == pid:
        return
    with _preinit_lock:
        if _preinitialised_pid == pid:
            return
        from django.conf import settings
        from django.db import connections

        for scope in settings.RATE_LIMITS:
            rate_limited_requests.labels(scope=scope)
            limiter_fail_open_decisions.labels(scope=scope)
        for result in CACHE_FLIGHT_RESULTS:
            cache_flight_results.labels(result=result)
        for cache in KNOWN_CACHES:
            for result in CACHE_RESULTS:
                cache_requests.labels(cache=cache, result=result)
        for alias in connections:
            database_connections.labels(alias=alias)
        routes: list[str] = []
        if include_routes:
            try:
                routes = [*known_routes(), UNMATCHED_ROUTE]
            except Exception:  # a broken urlconf must not break the metrics of the rest
                logger.exception("route pre-initialisation failed")
        for route in routes:
            for status in ("200", "500"):
                http_requests.labels(method="GET", route=route, status=status)
            http_request_duration.labels(method="GET", route=route)
        _preinitialised_pid = pid


# --------------------------------------------------------------------------- multiprocess

from monitoring.multiproc import multiprocess_dir_reset, multiprocess_mark_dead  # noqa: E402

__all__ = ["multiprocess_dir_reset", "multiprocess_mark_dead"]


def base_registry() -> CollectorRegistry:
    """Every process's values (multiprocess) or this process's default registry."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


# --------------------------------------------------------------------------- exposition


class _Families:
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


def cache_hit_ratio_family(families: list[Metric]) -> GaugeMetricFamily:
    """hit / (hit + miss) per cache, from the counters summed over every process."""
    totals: dict[str, dict[str, float]] = {}
    for family in families:
        if family.name != "cache_requests":
            continue
        for sample in family.samples:
            if sample.name != "cache_requests_total":
                continue
            cache = sample.labels.get("cache", "")
            bucket = totals.setdefault(cache, {"hit": 0.0, "miss": 0.0})
            result = sample.labels.get("result", "")
            if result in bucket:
                bucket[result] += sample.value
    gauge = GaugeMetricFamily(
        "cache_hit_ratio",
        "Cache hits / lookups since start, per cache, summed over processes (NaN: no lookups).",
        labels=["cache"],
    )
    for cache in sorted(totals):
        lookups = totals[cache]["hit"] + totals[cache]["miss"]
        gauge.add_metric([cache], totals[cache]["hit"] / lookups if lookups else math.nan)
    return gauge


def _gauge_empty(name: str) -> dict[str, Any]:
    gauge = gauges_registered().get(name)
    return gauge.empty if gauge is not None else {}


def snapshot_families(*, snapshot: dict[str, Any], beat: dict[str, float]) -> list[Metric]:
    """Gauges from the precomputed snapshot (refresh_gauges) and beat success times."""
    from config.celery import BEAT_SCHEDULE, QUEUES

    families: list[Metric] = []
    queues = GaugeMetricFamily(
        "queue_jobs_pending", "Jobs waiting in each Celery queue (broker LLEN).", labels=["queue"]
    )
    queue_sizes = snapshot.get("queues") or {}
    for queue in sorted(set(QUEUES) | set(queue_sizes)):
        queues.add_metric([queue], float(queue_sizes.get(queue, 0)))
    families.append(queues)

    outbox = snapshot.get("outbox") or {}
    # Before the first refresh, the label sets come from the gauge's registered empty shape.
    outbox_empty = _gauge_empty("outbox")
    records = GaugeMetricFamily("outbox_records", "Outbox rows by status.", labels=["status"])
    by_status = outbox.get("records_by_status") or {}
    for status in sorted(set(by_status) | set(outbox_empty.get("records_by_status") or {})):
        records.add_metric([status], float(by_status.get(status, 0)))
    families.append(records)
    families.append(
        GaugeMetricFamily(
            "outbox_oldest_unsent_seconds",
            "Age of the oldest outbox row not yet sent, in seconds (0: none).",
            value=float(outbox.get("oldest_unsent_seconds") or 0),
        )
    )
    budgets = GaugeMetricFamily(
        "provider_budget_remaining",
        "Provider calls left in the current window, by kind.",
        labels=["kind"],
    )
    remaining = outbox.get("budget_remaining") or {}
    for kind in sorted(set(remaining) | set(outbox_empty.get("budget_remaining") or {})):
        value = remaining.get(kind)
        # syncqueue reports -1 when it could not read the budget: unknown, not "none left"
        number = -1.0 if value is None else float(value)
        budgets.add_metric([kind], number if number >= 0 else math.nan)
    families.append(budgets)

    stats = snapshot.get("stats") or {}
    age = stats.get("age_seconds")
    families.append(
        GaugeMetricFamily(
            "stats_entry_age_seconds",
            "Age of the stats entry served to clients, in seconds (NaN: no entry).",
            value=float(age) if age is not None and stats.get("has_entry", True) else math.nan,
        )
    )
    beat_family = GaugeMetricFamily(
        "beat_last_success_timestamp",
        "Unix time of the last successful run of each beat schedule (0: none yet).",
        labels=["schedule"],
    )
    for schedule in sorted(set(BEAT_SCHEDULE) | set(beat)):
        beat_family.add_metric([schedule], float(beat.get(schedule, 0)))
    families.append(beat_family)
    services = GaugeMetricFamily(
        "service_up",
        "1 when the service answered its last health probe (ok, slow or not configured), else 0.",
        labels=["service"],
    )
    states = (snapshot.get("health") or {}).get("services") or {}
    for service in sorted(set(HEALTH_SERVICES) | set(states)):
        services.add_metric([service], 0.0 if states.get(service) == "down" else 1.0)
    families.append(services)
    refreshed_at = snapshot.get("refreshed_at")
    families.append(
        GaugeMetricFamily(
            "monitoring_snapshot_timestamp",
            "Unix time the gauges above were last refreshed (0: never).",
            value=float(refreshed_at or 0),
        )
    )
    return families


def exposition(*, snapshot: dict[str, Any], beat: dict[str, float]) -> tuple[bytes, str]:
    """The text a scrape returns: process (or all processes') metrics plus derived gauges."""
    from monitoring.multiproc import multiprocess_mark_gone

    preinitialise()
    multiprocess_mark_gone()  # exited workers' live gauges (memory, connections) drop out
    memory_usage_update()
    database_connections_update()
    families = list(base_registry().collect())
    families.append(cache_hit_ratio_family(families))
    families.extend(snapshot_families(snapshot=snapshot, beat=beat))
    return generate_latest(_Families(families)), CONTENT_TYPE_LATEST
