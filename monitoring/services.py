"""Alerting entry points other apps call (implemented by the monitoring app)."""

from __future__ import annotations


def alert_fire(*, key: str, title: str, message: str, level: str = "warning") -> None:
    """Raise (or keep raising) the alert `key`; sends to Slack/Discord outside its cooldown.
    Never raises: a webhook failure is logged."""


def alert_resolve(*, key: str) -> None:
    """Clear the alert `key`; sends a "resolved" message if it was firing. Never raises."""
