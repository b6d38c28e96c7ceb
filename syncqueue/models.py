"""Outbox rows, the batches that carry them, and the log of provider calls."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone


class OutboxStatus(models.IntegerChoices):
    UNSENT = 0, "unsent"
    PENDING = 1, "pending"
    SENT = 2, "sent"
    FAILED = 3, "failed"  # retried at next_attempt_at
    PARKED = 4, "parked"  # gave up; only an admin requeue sends it again
    SUPERSEDED = 5, "superseded"  # a newer row of the same user was delivered


class OutboxRecordQuerySet(models.QuerySet["OutboxRecord"]):
    def due(self, *, now: datetime) -> OutboxRecordQuerySet:
        """Rows a claimer may take: unsent or failed, and due."""
        return self.filter(
            status__in=(OutboxStatus.UNSENT, OutboxStatus.FAILED), next_attempt_at__lte=now
        )

    def lease_expired(self, *, now: datetime) -> OutboxRecordQuerySet:
        return self.filter(status=OutboxStatus.PENDING, lease_expires_at__lt=now)


class OutboxBatch(models.Model):
    """One provider call's worth of claimed rows (a batch call or a single call)."""

    class Kind(models.TextChoices):
        BATCH = "batch", "batch"
        SINGLE = "single", "single"

    class State(models.TextChoices):
        CLAIMED = "claimed", "claimed"
        DONE = "done", "done"
        FAILED = "failed", "failed"
        EXPIRED = "expired", "expired"  # lease ran out (worker died); rows went back

    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.BATCH)
    state = models.CharField(max_length=8, choices=State.choices, default=State.CLAIMED)
    size = models.PositiveIntegerField(default=0)
    lease_expires_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["state", "lease_expires_at"], name="sync_batch_state_idx")]

    def __str__(self) -> str:
        return f"batch {self.pk} ({self.kind}, {self.size} rows, {self.state})"


class OutboxRecord(models.Model):
    """One captured state of a user's tracked attributes, waiting for or past delivery."""

    # No database FK constraint: InnoDB would S-lock the user row whenever a claim changes
    # `status` (part of the FK's supporting index), deadlocking with a save that holds the user
    # row and waits for the row's unique key. Django's CASCADE still deletes a user's rows.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="outbox_records",
        db_constraint=False,
    )
    # Set only while the row is UNSENT and mergeable: the plain unique index makes "one
    # mergeable row per user" hold on MariaDB, which has no partial unique index.
    unsent_user_id = models.BigIntegerField(null=True, blank=True, unique=True)
    payload = models.JSONField()
    version = models.PositiveBigIntegerField()
    status = models.PositiveSmallIntegerField(
        choices=OutboxStatus.choices, default=OutboxStatus.UNSENT
    )
    retry_count = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    batch = models.ForeignKey(
        OutboxBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="records"
    )
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    objects = OutboxRecordQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["status", "next_attempt_at", "id"], name="sync_outbox_due_idx"),
            # Per-user lookups: the newest version (an index-only MAX) and rows in flight.
            models.Index(fields=["user", "version"], name="sync_outbox_user_version_idx"),
            models.Index(fields=["status", "updated_at"], name="sync_outbox_archive_idx"),
        ]

    def __str__(self) -> str:
        return f"outbox {self.pk} user={self.user_id} v{self.version} {self.get_status_display()}"

    @property
    def idempotency_key(self) -> str:
        return f"{self.pk}:{self.version}"

    def as_provider_record(self) -> dict[str, Any]:
        return {
            "idempotency_key": self.idempotency_key,
            "user_id": self.user_id,
            "version": self.version,
            "attributes": self.payload.get("attributes", {}),
        }


class ProviderCall(models.Model):
    """One HTTP call to the provider (kept SYNC_CALL_RETENTION_DAYS)."""

    endpoint = models.CharField(max_length=64)
    batch = models.ForeignKey(
        OutboxBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="calls"
    )
    records = models.PositiveIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"{self.endpoint} {self.records} rec -> {self.status_code or self.error[:40]}"
