"""Cheap reads of the outbox for sync_status, the ops page and the monitoring gauges."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Count, Min
from django.utils import timezone

from core import redis as coordination
from syncqueue import budget
from syncqueue.models import OutboxRecord, OutboxStatus, ProviderCall

RECENT_CALLS = 10


def sync_overview_empty() -> dict[str, Any]:
    """sync_overview's shape before the first refresh: every status at 0 and each budget kind, so
    /api/metrics shows each series from the start."""
    return {
        "records_by_status": {status.label: 0 for status in OutboxStatus},
        "oldest_unsent_seconds": None,
        "budget_remaining": dict.fromkeys(budget.KINDS),  # None: unknown yet (NaN)
    }


def sync_overview(*, now: datetime | None = None) -> dict[str, Any]:
    """Backlog by status, age of the oldest unsent row, budgets left, recent provider calls.

    Two indexed aggregates and one small query; budgets are None-free (-1 when the
    coordination Redis is unreachable).
    """
    now = now or timezone.now()
    counts = dict(
        OutboxRecord.objects.order_by()
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    records_by_status = {status.label: counts.get(status.value, 0) for status in OutboxStatus}
    oldest = OutboxRecord.objects.filter(
        status__in=(OutboxStatus.UNSENT, OutboxStatus.FAILED)
    ).aggregate(oldest=Min("created_at"))["oldest"]
    try:
        remaining = budget.budget_remaining(now=now)
    except coordination.CoordinationUnavailable:
        remaining = {kind: -1 for kind in budget.KINDS}
    recent = [
        {
            "at": call.created_at.isoformat(),
            "endpoint": call.endpoint,
            "records": call.records,
            "status": call.status_code,
            "duration_ms": call.duration_ms,
            "error": call.error,
        }
        for call in ProviderCall.objects.order_by("-id")[:RECENT_CALLS]
    ]
    return {
        "records_by_status": records_by_status,
        "oldest_unsent_seconds": (now - oldest).total_seconds() if oldest else None,
        "budget_remaining": {"batch": remaining["batch"], "single": remaining["single"]},
        "window_resets_in_seconds": int(budget.window_resets_in_seconds(now)),
        "recent_calls": recent,
    }
