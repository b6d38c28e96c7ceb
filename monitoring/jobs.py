"""Beat jobs of the monitoring app (queue: default)."""

from __future__ import annotations

from celery import shared_task

from monitoring import alerting, gauges


@shared_task(soft_time_limit=40, time_limit=50, ignore_result=True)
def evaluate_alerts() -> dict[str, str]:
    """Run every registered alert check (monitoring.registry); fire or resolve.
    Idempotent: AlertEvent rows and the cooldown decide what is (re)sent."""
    return alerting.alert_checks_evaluate()


@shared_task(soft_time_limit=10, time_limit=14, ignore_result=True)
def refresh_gauges() -> None:
    """Recompute the gauge snapshot /api/metrics and /ops/ read (every 15 s)."""
    gauges.gauges_refresh()


@shared_task(soft_time_limit=240, time_limit=300, ignore_result=True)
def purge_alert_events() -> int:
    """Delete resolved alert events older than ALERT_EVENT_RETENTION_DAYS."""
    return alerting.alert_events_purge()
