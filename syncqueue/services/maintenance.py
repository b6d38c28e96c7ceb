"""Sweep alerts and archival of the outbox."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Min
from django.utils import timezone

from core import redis as coordination
from syncqueue.models import OutboxBatch, OutboxRecord, OutboxStatus, ProviderCall
from syncqueue.services.relay import exhausted_streak

logger = logging.getLogger(__name__)

ARCHIVE_CHUNK_ROWS = 2000  # one short DELETE per chunk keeps locks and binlog events small

ALERT_PARKED = "sync.parked"
ALERT_FAILING = "sync.persistent_failures"
ALERT_BACKLOG_AGE = "sync.backlog_age"
ALERT_BUDGET_EXHAUSTED = "sync.budget_exhausted"


def outbox_alerts_evaluate(*, now: datetime | None = None) -> dict[str, bool]:
    """Fire or resolve the four sync alerts from cheap indexed queries; returns what fires."""
    from monitoring.services import alert_fire, alert_resolve

    now = now or timezone.now()
    parked = OutboxRecord.objects.filter(status=OutboxStatus.PARKED).count()
    failing = OutboxRecord.objects.filter(
        status=OutboxStatus.FAILED, retry_count__gte=settings.SYNC_MAX_RETRIES
    ).count()
    oldest = OutboxRecord.objects.filter(
        status__in=(OutboxStatus.UNSENT, OutboxStatus.FAILED)
    ).aggregate(oldest=Min("created_at"))["oldest"]
    age_seconds = (now - oldest).total_seconds() if oldest else 0.0
    try:
        streak = exhausted_streak(kind="batch", now=now)
    except coordination.CoordinationUnavailable:
        streak = 0
    states = {
        ALERT_PARKED: (
            parked > 0,
            "Sync rows parked",
            f"{parked} outbox rows were parked after {settings.SYNC_MAX_RETRIES} rejections; requeue them in the admin.",
        ),
        ALERT_FAILING: (
            failing > 0,
            "Sync deliveries keep failing",
            f"{failing} outbox rows failed {settings.SYNC_MAX_RETRIES}+ times (provider errors or timeouts).",
        ),
        ALERT_BACKLOG_AGE: (
            age_seconds > settings.ALERT_OUTBOX_OLDEST_SECONDS,
            "Sync backlog is old",
            f"The oldest unsent outbox row is {int(age_seconds)} s old.",
        ),
        ALERT_BUDGET_EXHAUSTED: (
            streak >= settings.ALERT_BUDGET_EXHAUSTED_WINDOWS,
            "Sync batch budget exhausted",
            f"The provider batch budget ran out {streak} windows in a row.",
        ),
    }
    firing = {}
    for key, (is_firing, title, message) in states.items():
        firing[key] = is_firing
        if is_firing:
            alert_fire(
                key=key,
                title=title,
                message=message,
                level="warning" if key != ALERT_PARKED else "error",
            )
        else:
            alert_resolve(key=key)
    return firing


def outbox_archive(
    *, now: datetime | None = None, chunk_rows: int = ARCHIVE_CHUNK_ROWS
) -> dict[str, int]:
    """Delete sent/superseded rows older than SYNC_RETENTION_DAYS, provider calls older than
    SYNC_CALL_RETENTION_DAYS and finished batches left empty, in chunks. Idempotent."""
    now = now or timezone.now()
    row_cutoff = now - timedelta(days=settings.SYNC_RETENTION_DAYS)
    call_cutoff = now - timedelta(days=settings.SYNC_CALL_RETENTION_DAYS)
    deleted = {"records": 0, "calls": 0, "batches": 0}
    deleted["records"] = _delete_chunks(
        OutboxRecord.objects.filter(
            status__in=(OutboxStatus.SENT, OutboxStatus.SUPERSEDED), updated_at__lt=row_cutoff
        ),
        OutboxRecord,
        chunk_rows,
    )
    deleted["calls"] = _delete_chunks(
        ProviderCall.objects.filter(created_at__lt=call_cutoff), ProviderCall, chunk_rows
    )
    deleted["batches"] = _delete_chunks(
        OutboxBatch.objects.filter(
            finished_at__lt=row_cutoff, records__isnull=True, calls__isnull=True
        ),
        OutboxBatch,
        chunk_rows,
    )
    logger.info(
        "sync archive deleted records=%s calls=%s batches=%s",
        deleted["records"],
        deleted["calls"],
        deleted["batches"],
    )
    return deleted


def _delete_chunks(queryset, model, chunk_rows: int) -> int:  # type: ignore[no-untyped-def]
    total = 0
    while True:
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:chunk_rows])
        if not ids:
            return total
        # Raw DELETE: nothing cascades from these rows (batches are only deleted once empty).
        total += model.objects.filter(pk__in=ids)._raw_delete(model.objects.db)
