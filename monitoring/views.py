"""/api/metrics, /api/health and /api/health/live.

Plain Django views on purpose: they bypass DRF's limiter, auth and envelope, so a load
balancer or Prometheus polling them adds no Redis call and is never rate limited.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from core.client_ip import address_in, client_ip, networks_from
from core.errors import problem_response
from monitoring import health, metrics, selectors


def metrics_access_allowed(request: HttpRequest) -> bool:
    """From METRICS_ALLOWED_NETWORKS (core client IP) or with METRICS_BEARER_TOKEN."""
    token = settings.METRICS_BEARER_TOKEN
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if (
        token
        and header.startswith("Bearer ")
        and hmac.compare_digest(header[len("Bearer ") :].encode(), token.encode())
    ):
        return True
    networks = networks_from(settings.METRICS_ALLOWED_NETWORKS)
    return bool(networks) and address_in(client_ip(request), networks)


@never_cache
@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not metrics_access_allowed(request):
        return problem_response(
            status=403, code="permission_denied", detail="Metrics are not available to you."
        )
    body, content_type = metrics.exposition(
        snapshot=selectors.snapshot_get(), beat=selectors.beat_success_get()
    )
    return HttpResponse(body, content_type=content_type)


@never_cache
@require_safe
def health_view(request: HttpRequest) -> JsonResponse:
    document, status = health.health_check()
    if health.drain_is_active():
        # The load balancer takes us out; requests already routed here still succeed.
        document = {**document, "status": "unhealthy", "draining": True}
        status = 503
    response = JsonResponse(document, status=status)
    if status == 503:
        response["Retry-After"] = "5"
    return response


@never_cache
@require_safe
def live_view(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. No database, Redis or drain check."""
    return JsonResponse({"status": "alive"})
