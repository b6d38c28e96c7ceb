"""The comparison views of bench/stats_bench.py (bench only, never deployed)."""

from __future__ import annotations

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django_ratelimit.decorators import ratelimit

from core.client_ip import client_ip, rate_limit_subject
from stats.services import stats_compute

CONSTANT_BODY = (
    b'{"users":1000000,"orders":"250000000.00","orders_count":3000000,'
    b'"generated_at":"2026-01-01T00:00:00Z"}'
)
CONVENTIONAL_KEY = "bench:conv:stats"
CONVENTIONAL_TTL_SECONDS = 60


def constant_view(request: HttpRequest) -> HttpResponse:
    """(a0) without middleware, (a) with the project's: a plain function view, constant body."""
    return HttpResponse(CONSTANT_BODY, content_type="application/json")


def _client_key(group: str, request: HttpRequest) -> str:
    # The same trusted-proxy client address as the project's limiter (core.client_ip).
    return rate_limit_subject(client_ip(request))


@ratelimit(key=_client_key, rate="60/m", block=True)
def conventional_view(request: HttpRequest) -> HttpResponse:
    """(conv) the conventional design: django-ratelimit per client IP (its counter in the
    django-redis cache) and cache-aside through django-redis (pickled bytes, computed on a
    miss). The same 60/min per IP as the project's `stats` scope."""
    body = cache.get(CONVENTIONAL_KEY)
    if body is None:
        body = stats_compute().body
        cache.set(CONVENTIONAL_KEY, body, CONVENTIONAL_TTL_SECONDS)
    return HttpResponse(body, content_type="application/json")
