"""Per-request metrics, kept in process: no Redis call, no database query on the request path."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from monitoring import metrics


class RequestMetricsMiddleware:
    """Counts every request by method, route template and status, and its latency.

    Labels use the resolved route template (`/api/v1/tasks/<int:pk>`), never the raw path,
    so ids cannot explode the series count. The same numbers feed the per-process minute
    aggregates that a background thread flushes to Redis at most once a second.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
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
            match = getattr(request, "resolver_match", None)
            metrics.request_record(
                method=request.method or "",
                route=match.route if match is not None else None,
                status=status,
                duration_ms=(time.perf_counter() - started) * 1000,
            )
