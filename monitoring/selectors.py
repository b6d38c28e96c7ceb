"""Cheap reads of precomputed monitoring data (snapshot, beat times, alerts, slow queries)."""

from __future__ import annotations

import json
import logging
from typing import Any

from core import redis as coordination
from monitoring import aggregates, keys
from monitoring.models import AlertEvent

logger = logging.getLogger(__name__)


def snapshot_get() -> dict[str, Any]:
    """The last snapshot refresh_gauges stored (one GET); empty if none or Redis is down."""
    try:
        raw = coordination.value_get(keys.SNAPSHOT_KEY)
    except coordination.CoordinationUnavailable:
        return {}
    if not raw:
        return {}
    try:
        snapshot: dict[str, Any] = json.loads(raw)
    except ValueError:
        logger.warning("gauge snapshot unreadable")
        return {}
    return snapshot


def beat_success_get() -> dict[str, float]:
    """schedule -> unix time of its last successful run."""
    from config.celery import BEAT_SCHEDULE

    if not coordination.is_configured():
        found = {}
        for schedule in BEAT_SCHEDULE:
            value = coordination.local_store.get(f"{keys.BEAT_SUCCESS_KEY}:{schedule}")
            if value is not None:
                found[schedule] = float(value)
        return found
    try:
        raw = coordination.call(lambda r: r.hgetall(keys.BEAT_SUCCESS_KEY))
    except coordination.CoordinationUnavailable:
        return {}
    return {name.decode(): float(value) for name, value in raw.items()}


def alerts_recent(*, limit: int = 20) -> list[AlertEvent]:
    """Newest incidents first (firing and resolved), from the primary: state just changed."""
    return list(AlertEvent.objects.using("default").order_by("-fired_at", "-id")[:limit])


def slow_queries_slowest(*, limit: int = 10) -> list[dict[str, Any]]:
    """The slowest of the recently logged slow queries."""
    try:
        recent = aggregates.slow_queries_read()
    except coordination.CoordinationUnavailable:
        return []
    return sorted(recent, key=lambda entry: entry.get("duration_ms", 0), reverse=True)[:limit]
