from __future__ import annotations

from django.db import models


class AlertEventQuerySet(models.QuerySet["AlertEvent"]):
    def firing(self) -> AlertEventQuerySet:
        return self.filter(state=AlertEvent.State.FIRING)


class AlertEvent(models.Model):
    """One incident of an alert: opened when `key` starts firing, closed when it resolves.

    `open_key` equals `key` while firing and is NULL once resolved; its unique index makes
    "at most one firing incident per key" hold across processes (MariaDB has no partial
    unique indexes, but allows many NULLs).
    """

    class State(models.TextChoices):
        FIRING = "firing", "Firing"
        RESOLVED = "resolved", "Resolved"

    class Level(models.TextChoices):
        CRITICAL = "critical", "Critical"
        WARNING = "warning", "Warning"

    key = models.CharField(max_length=191, db_index=True)
    open_key = models.CharField(max_length=191, null=True, blank=True, unique=True)
    title = models.CharField(max_length=200)
    message = models.TextField(blank=True)
    level = models.CharField(max_length=16, choices=Level.choices, default=Level.WARNING)
    state = models.CharField(max_length=16, choices=State.choices, default=State.FIRING)
    fired_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    # When a "firing" message for this incident last went out (None: suppressed by cooldown).
    notified_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    occurrences = models.PositiveIntegerField(default=1)

    objects = AlertEventQuerySet.as_manager()

    class Meta:
        ordering = ("-fired_at", "-id")
        indexes = [
            models.Index(fields=["state", "fired_at"], name="alert_state_fired_idx"),
            models.Index(fields=["resolved_at"], name="alert_resolved_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.state})"
