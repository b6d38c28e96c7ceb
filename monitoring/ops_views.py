"""The staff-only ops dashboard (/ops/) and the JSON it refreshes itself from.

Reads only precomputed data: the gauge snapshot (one Redis GET), beat success times (one
HGETALL), the slow-query list (one LRANGE) and the newest alert rows (one indexed query).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache

from monitoring import selectors
from monitoring.models import AlertEvent

REFRESH_SECONDS = 15  # the snapshot itself is refreshed every 15 s by beat


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anonymous → the admin login page; signed in but not staff → 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path(), login_url=reverse("admin:login"))
        if not (user.is_active and user.is_staff):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def _alert_row(event: AlertEvent) -> dict[str, Any]:
    return {
        "key": event.key,
        "title": event.title,
        "level": event.level,
        "state": event.state,
        "message": event.message,
        "fired_at": event.fired_at.isoformat(),
        "resolved_at": event.resolved_at.isoformat() if event.resolved_at else None,
        "occurrences": event.occurrences,
    }


def ops_overview(*, now: float | None = None) -> dict[str, Any]:
    """Everything the dashboard shows, from precomputed sources only."""
    moment = now if now is not None else time.time()
    snapshot = selectors.snapshot_get()
    stats = snapshot.get("stats") or {}
    outbox = snapshot.get("outbox") or {}
    refreshed_at = snapshot.get("refreshed_at")
    beat = selectors.beat_success_get()
    return {
        "generated_at": moment,
        "snapshot_age_seconds": round(moment - refreshed_at, 1) if refreshed_at else None,
        "stats": {
            "has_entry": bool(stats.get("has_entry")),
            "age_seconds": stats.get("age_seconds"),
            "is_stale": bool(stats.get("is_stale")),
        },
        "health": snapshot.get("health") or {},
        "queues": snapshot.get("queues") or {},
        "outbox": {
            "records_by_status": outbox.get("records_by_status") or {},
            "oldest_unsent_seconds": outbox.get("oldest_unsent_seconds"),
            "budget_remaining": outbox.get("budget_remaining") or {},
        },
        "beat": {name: round(moment - value) for name, value in sorted(beat.items())},
        "alerts": [_alert_row(event) for event in selectors.alerts_recent(limit=15)],
        "slow_queries": selectors.slow_queries_slowest(limit=10),
        "series": snapshot.get("series") or [],
    }


@never_cache
@staff_required
def ops_dashboard(request: HttpRequest) -> HttpResponse:
    overview = ops_overview()
    return render(
        request,
        "monitoring/ops.html",
        {"overview": overview, "refresh_seconds": REFRESH_SECONDS},
    )


@never_cache
@staff_required
def ops_data(request: HttpRequest) -> JsonResponse:
    return JsonResponse(ops_overview())
