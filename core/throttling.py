"""Adapters of the GCRA limiter (core.limiter) for views.

DRF: scope comes from the view's `throttle_scope` (default "default"); the subject is the user
when authenticated, else the client IP (IPv6 by /64). The decision is kept on the request
so the view can send the rate-limit headers on every response, not only on 429.

Sign-in forms (`limit_sign_in`): each POST is charged to the client IP and to the submitted
username, so neither one address guessing many accounts nor many addresses guessing one
account get far.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from rest_framework.throttling import BaseThrottle

from core import metrics
from core.client_ip import client_ip, rate_limit_subject
from core.errors import ServiceUnavailable
from core.limiter import Decision, LimiterUnavailable, rate_limit_check

logger = logging.getLogger(__name__)


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
        subject = subject_for(request)
        # Authentication may have decided it already, in its own round trip (accounts).
        prefetched = getattr(request, "prefetched_rate_limit", None)
        decision: Decision
        try:
            if prefetched is not None and prefetched[:2] == (scope, subject):
                decision = prefetched[2]
            else:
                decision = rate_limit_check(scope=scope, subject=subject)
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


def _username_subject(raw: str) -> str:
    # Hashed: keys hold no email addresses, and any length or byte becomes 32 hex characters.
    normalized = raw.strip().lower().encode("utf-8", "replace")
    return "user:" + hashlib.sha256(normalized).hexdigest()[:32]


def _refused(status: int, message: str, retry_after_seconds: int) -> HttpResponse:
    response = HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(max(1, retry_after_seconds))
    response["Cache-Control"] = "no-store"
    return response


def limit_sign_in(
    view: Callable[..., HttpResponse],
    *,
    ip_scope: str,
    username_scope: str,
    username_field: str = "username",
) -> Callable[..., HttpResponse]:
    """Wrap a form sign-in view: every POST is charged to `ip_scope` (client IP) and, if the
    IP was allowed, to `username_scope` (the submitted username). Refused: 429 with
    Retry-After, the view never runs (no password is checked). Redis down: these scopes are
    expected in RATE_LIMIT_FAIL_CLOSED_SCOPES, so 503 rather than unlimited guessing."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method != "POST" or not settings.RATE_LIMIT_ENABLED:
            return view(request, *args, **kwargs)
        subjects = [(ip_scope, f"ip:{rate_limit_subject(client_ip(request))}")]
        username = request.POST.get(username_field, "")
        if username:
            subjects.append((username_scope, _username_subject(username)))
        for scope, subject in subjects:
            try:
                decision = rate_limit_check(scope=scope, subject=subject)
            except LimiterUnavailable:
                return _refused(503, "Sign-in is unavailable right now; try again shortly.", 5)
            if not decision.is_allowed:
                logger.warning("sign-in rate limited scope=%s ip=%s", scope, client_ip(request))
                metrics.rate_limited(scope=scope)
                return _refused(
                    429,
                    "Too many sign-in attempts; try again in "
                    f"{max(1, decision.retry_after_seconds)} s.",
                    decision.retry_after_seconds,
                )
        return view(request, *args, **kwargs)

    return wrapper
