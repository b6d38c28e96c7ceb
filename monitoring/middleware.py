"""Per-request metrics, kept in process: no Redis call, no database query on the request path."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse

from monitoring import aggregates, metrics


class RequestMetricsMiddleware:
    """Counts every request by method, route template and status, and its latency.

    Labels use the resolved route template (`/api/v1/tasks/<int:pk>`), never the raw path,
    so ids cannot explode the series count. The same numbers feed the per-process minute
    aggregates that a background thread flushes to Redis at most once a second.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        # (method, resolver route, status) -> metric children, resolved once per process:
        # `.labels()` takes a lock and builds tuples per metric, and the route label a regex
        # (issue #12). Bounded by the URLconf, the known verbs and the status codes.
        self._series: dict[tuple[str | None, str | None, int], tuple[Any, Any]] = {}
        # Once per process (the handler is built after the fork): label sets a dashboard needs.
        metrics.preinitialise()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = self.get_response(request)
            status = response.status_code
            return response
        finally:
            duration_ms = (time.perf_counter() - started) * 1000
            match = getattr(request, "resolver_match", None)
            key = (request.method, match.route if match is not None else None, status)
            series = self._series.get(key)
            if series is None:
                series = metrics.request_series(
                    method=request.method or "", route=metrics.route_label(key[1]), status=status
                )
                if len(self._series) < _MAX_SERIES:
                    self._series[key] = series
            series[0].inc()
            series[1].observe(duration_ms)
            aggregates.record_request(status=status, duration_ms=duration_ms)
            metrics.database_connections_update()


# A safety net against unbounded keys (the real bound is routes x verbs x statuses, far lower).
_MAX_SERIES = 10_000
