"""Helpers shared by the syncqueue tests."""

from __future__ import annotations

from datetime import datetime


def sync_alerts_evaluate(*, now: datetime) -> dict[str, bool]:
    """Run monitoring's one evaluator (which fires/resolves) and return the sync alerts' state."""
    from monitoring.alerting import alert_checks_evaluate

    return {
        key: state == "firing"
        for key, state in alert_checks_evaluate(now=now).items()
        if key.startswith("sync.")
    }
