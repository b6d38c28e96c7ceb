"""The gauge snapshot /api/metrics and /ops/ read: registered app gauges, broker queue
lengths, health probes and the last hour of request aggregates, refreshed every 15 s by
`monitoring.jobs.refresh_gauges` and stored as one JSON document (one GET per scrape)."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from core import redis as coordination
from monitoring import aggregates, health, keys
from monitoring.registry import gauges_registered

logger = logging.getLogger(__name__)


def request_series(*, now: float | None = None, minutes: int = 60) -> list[dict[str, Any]]:
    """Per-minute requests, p95 latency, error rate and cache hit ratio for the last hour."""
    current = int((now if now is not None else time.time()) // 60)
    first = current - minutes + 1
    try:
        rows = aggregates.minutes_read(first_minute=first, last_minute=current)
    except coordination.CoordinationUnavailable:
        rows = {}
    series = []
    for minute in range(first, current + 1):
        fields = rows.get(minute, {})
        requests = fields.get("requests", 0.0)
        lookups = fields.get("cache_hit", 0.0) + fields.get("cache_miss", 0.0)
        series.append(
            {
                "t": minute * 60,
                "requests": int(requests),
                "p95_ms": aggregates.latency_percentile(fields, quantile=0.95),
                "error_rate": fields.get("errors", 0.0) / requests if requests else 0.0,
                "cache_hit_ratio": fields.get("cache_hit", 0.0) / lookups if lookups else None,
            }
        )
    return series


def gauges_read() -> dict[str, dict[str, Any]]:
    """Each registered gauge's section; a gauge that raises is logged and left empty."""
    sections: dict[str, dict[str, Any]] = {}
    for name, gauge in gauges_registered().items():
        try:
            sections[name] = gauge.read()
        except Exception:
            logger.exception("gauge read failed gauge=%s", name)
            sections[name] = {}
    return sections


def gauges_refresh(*, now: float | None = None) -> dict[str, Any]:
    """Recompute the snapshot that /api/metrics and /ops/ read, and store it.

    Reads every registered gauge (monitoring.registry), the broker's queue lengths, the
    health probes and the last hour of request aggregates. Idempotent.
    """
    moment = now if now is not None else time.time()
    snapshot: dict[str, Any] = {
        "refreshed_at": moment,
        "queues": health.queue_sizes(),
        **gauges_read(),
        "health": health.health_check(use_cache=False)[0],
        "series": request_series(now=moment),
    }
    try:
        coordination.value_set(
            keys.SNAPSHOT_KEY,
            json.dumps(snapshot, default=str),
            ttl_seconds=keys.SNAPSHOT_TTL_SECONDS,
        )
    except coordination.CoordinationUnavailable:
        logger.warning("gauge snapshot not stored: coordination redis down")
    return snapshot
