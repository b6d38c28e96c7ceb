"""Per-request metrics, kept in process: no Redis call, no database query on the request path."""

from __future__ import annotations

import time
from collections.abc import Callable

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

    def __call__(self, request: HttpRequest) -> HttpResponse:
        metrics.preinitialise()
        started = time.perf_counter()
        status = 500
        try:
            response = self.get_response(request)
            status = response.status_code
            return response
        finally:
            duration_ms = (time.perf_counter() - started) * 1000
            match = getattr(request, "resolver_match", None)
            route = metrics.route_label(match.route if match is not None else None)
            metrics.request_observe(
                method=_method_label(request.method),
                route=route,
                status=status,
                duration_ms=duration_ms,
            )
            aggregates.record_request(status=status, duration_ms=duration_ms)
            metrics.database_connections_update()


_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _method_label(method: str | None) -> str:
    """Unknown verbs share one label: a client must not be able to mint series."""
    return method if method in _KNOWN_METHODS else "OTHER"
