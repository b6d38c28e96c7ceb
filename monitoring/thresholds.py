"""Monitoring's own alert checks (registered in MonitoringConfig.ready): request errors and
latency over the last complete minute, queue lengths on the broker, database probes."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from django.conf import settings

from monitoring import aggregates, health
from monitoring.registry import AlertCheck


def requests_check(now: datetime) -> list[AlertCheck]:
    """5xx count and average latency of the last complete minute, over every process's flushed
    aggregates. Raises CoordinationUnavailable when they cannot be read (check skipped)."""
    minute = int(now.timestamp() // 60) - 1
    fields = aggregates.minutes_read(first_minute=minute, last_minute=minute).get(minute, {})
    errors = int(fields.get("errors", 0))  # 5xx only: a flood of 429s is not an error
    requests = fields.get("requests", 0.0)
    average_ms = fields.get("duration_ms_sum", 0.0) / requests if requests else 0.0
    return [
        AlertCheck(
            key="requests.error_rate",
            title="High Error Rate",
            level="critical",
            is_firing=errors >= settings.ALERT_ERRORS_PER_MINUTE,
            message=(
                f"{errors} server errors (5xx) in the last minute "
                f"(threshold {settings.ALERT_ERRORS_PER_MINUTE}/min)."
            ),
        ),
        AlertCheck(
            key="requests.slow",
            title="Slow Response",
            level="warning",
            is_firing=requests > 0 and average_ms >= settings.ALERT_RESPONSE_TIME_MS,
            message=(
                f"Average response time {average_ms:.0f} ms over {int(requests)} requests "
                f"in the last minute (threshold {settings.ALERT_RESPONSE_TIME_MS} ms)."
            ),
        ),
    ]


def queues_check(now: datetime) -> list[AlertCheck]:
    """One check per Celery queue against ALERT_QUEUE_SIZE (none without a Redis broker)."""
    return [
        AlertCheck(
            key=f"queue.size:{queue}",
            title="High Queue Size",
            level="warning",
            is_firing=size >= settings.ALERT_QUEUE_SIZE,
            message=(
                f"Queue '{queue}' has {size} pending jobs (threshold {settings.ALERT_QUEUE_SIZE})."
            ),
        )
        for queue, size in sorted(health.queue_sizes().items())
    ]


def databases_check(now: datetime) -> list[AlertCheck]:
    """SELECT 1 on the primary and each replica within the probe deadline; a failure fires."""
    found = []
    for alias in ["default", *settings.DATABASE_REPLICAS]:
        outcome = health.probe_run(partial(health.probe_database, alias=alias))
        found.append(
            AlertCheck(
                key=f"database.down:{alias}",
                title="Database Issue",
                level="critical",
                is_firing=outcome == health.DOWN,
                message=f"Database '{alias}' did not answer SELECT 1 within "
                f"{int(health.PROBE_TIMEOUT_SECONDS * 1000)} ms.",
            )
        )
    return found
