"""DRF adapter for the GCRA limiter (core.limiter).

Scope comes from the view's `throttle_scope` (default "default"); the subject is the user
when authenticated, else the client IP (IPv6 by /64). The decision is kept on the request
so the view can send the rate-limit headers on every response, not only on 429.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from core import metrics
from core.client_ip import client_ip, rate_limit_subject
from core.errors import ServiceUnavailable
from core.limiter import Decision, LimiterUnavailable, rate_limit_check


def subject_for(request: Any) -> str:
    # `_user` is set once DRF authenticated (AnonymousUser when that failed); never re-run auth here.
    user = getattr(request, "_user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return f"ip:{rate_limit_subject(client_ip(request))}"


class ScopedRateThrottle(BaseThrottle):
    def allow_request(self, request: Any, view: Any) -> bool:
        if not settings.RATE_LIMIT_ENABLED:
            return True
        scope = getattr(view, "throttle_scope", None) or "default"
        try:
            decision = rate_limit_check(scope=scope, subject=subject_for(request))
        except LimiterUnavailable:
            raise ServiceUnavailable(
                "Rate limiting is unavailable; try again shortly.",
                code="rate_limiter_unavailable",
                retry_after_seconds=2,
            ) from None
        request.rate_limit_decision = decision
        self._decision = decision
        if not decision.is_allowed:
            metrics.rate_limited(scope=scope)
        return decision.is_allowed

    def wait(self) -> float | None:
        decision: Decision | None = getattr(self, "_decision", None)
        return float(max(1, decision.retry_after_seconds)) if decision else None
