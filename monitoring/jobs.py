"""Beat jobs of the monitoring app (queue: default)."""

from __future__ import annotations

from celery import shared_task

from monitoring import services


@shared_task(soft_time_limit=40, time_limit=50, ignore_result=True)
def evaluate_alerts() -> dict[str, str]:
    """Compare the last minute's numbers with the ALERT_* thresholds; fire or resolve.
    Idempotent: AlertEvent rows and the cooldown decide what is (re)sent."""
    return services.alerts_evaluate()


@shared_task(soft_time_limit=10, time_limit=14, ignore_result=True)
def refresh_gauges() -> None:
    """Recompute the gauge snapshot /api/metrics and /ops/ read (every 15 s)."""
    services.gauges_refresh()


@shared_task(soft_time_limit=240, time_limit=300, ignore_result=True)
def purge_alert_events() -> int:
    """Delete resolved alert events older than ALERT_EVENT_RETENTION_DAYS."""
    return services.alert_events_purge()
