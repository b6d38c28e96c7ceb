"""Alert checks and archival of the outbox."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Min
from django.utils import timezone

from core import redis as coordination
from core.purge import rows_delete_in_chunks
from monitoring.registry import AlertCheck
from syncqueue.models import OutboxBatch, OutboxRecord, OutboxStatus, ProviderCall
from syncqueue.services.relay import exhausted_streak

logger = logging.getLogger(__name__)


ARCHIVE_CHUNK_ROWS = 2000  # one short DELETE per chunk keeps locks and binlog events small

ALERT_PARKED = "sync.parked"
ALERT_FAILING = "sync.persistent_failures"
ALERT_BACKLOG_AGE = "sync.backlog_age"
ALERT_BUDGET_EXHAUSTED = "sync.budget_exhausted"
ALERT_BACKLOG = "sync.backlog"
ALERT_FAILURES = "sync.failures"
# Rows not yet delivered (the backlog) and rows that failed or gave up.
BACKLOG_STATUSES = (
    OutboxStatus.UNSENT,
    OutboxStatus.PENDING,
    OutboxStatus.FAILED,
    OutboxStatus.PARKED,
)
FAILED_STATUSES = (OutboxStatus.FAILED, OutboxStatus.PARKED)


def outbox_alerts_check(now: datetime) -> list[AlertCheck]:
    """The six sync alerts from cheap indexed queries (registered with monitoring in
    SyncqueueConfig.ready; monitoring's evaluator fires or resolves them every minute)."""
    counts = dict(
        OutboxRecord.objects.filter(status__in=BACKLOG_STATUSES)
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    backlog = sum(counts.values())
    failed = sum(counts.get(status, 0) for status in FAILED_STATUSES)
    parked = counts.get(OutboxStatus.PARKED, 0)
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
    return [
        AlertCheck(
            key=ALERT_BACKLOG,
            title="Sync backlog",
            level="warning",
            is_firing=backlog >= settings.ALERT_OUTBOX_BACKLOG,
            message=f"{backlog} outbox rows not yet sent "
            f"(threshold {settings.ALERT_OUTBOX_BACKLOG}).",
        ),
        AlertCheck(
            key=ALERT_FAILURES,
            title="Sync failures",
            level="critical",
            is_firing=failed >= settings.ALERT_OUTBOX_FAILED,
            message=f"{failed} outbox rows failed or parked "
            f"(threshold {settings.ALERT_OUTBOX_FAILED}).",
        ),
        AlertCheck(
            key=ALERT_PARKED,
            title="Sync rows parked",
            level="critical",
            is_firing=parked > 0,
            message=f"{parked} outbox rows were parked after {settings.SYNC_MAX_RETRIES} rejections; requeue them in the admin.",
        ),
        AlertCheck(
            key=ALERT_FAILING,
            title="Sync deliveries keep failing",
            level="warning",
            is_firing=failing > 0,
            message=f"{failing} outbox rows failed {settings.SYNC_MAX_RETRIES}+ times (provider errors or timeouts).",
        ),
        AlertCheck(
            key=ALERT_BACKLOG_AGE,
            title="Sync backlog is old",
            level="warning",
            is_firing=age_seconds > settings.ALERT_OUTBOX_OLDEST_SECONDS,
            message=f"The oldest unsent outbox row is {int(age_seconds)} s old.",
        ),
        AlertCheck(
            key=ALERT_BUDGET_EXHAUSTED,
            title="Sync batch budget exhausted",
            level="warning",
            is_firing=streak >= settings.ALERT_BUDGET_EXHAUSTED_WINDOWS,
            message=f"The provider batch budget ran out {streak} windows in a row.",
        ),
    ]


def outbox_archive(
    *, now: datetime | None = None, chunk_rows: int = ARCHIVE_CHUNK_ROWS
) -> dict[str, int]:
    """Delete sent/superseded rows older than SYNC_RETENTION_DAYS, provider calls older than
    SYNC_CALL_RETENTION_DAYS and finished batches left empty, in chunks. Idempotent."""
    now = now or timezone.now()
    row_cutoff = now - timedelta(days=settings.SYNC_RETENTION_DAYS)
    call_cutoff = now - timedelta(days=settings.SYNC_CALL_RETENTION_DAYS)
    deleted = {"records": 0, "calls": 0, "batches": 0}
    # Raw DELETEs: nothing cascades from these rows (batches are only deleted once empty).
    deleted["records"] = rows_delete_in_chunks(
        OutboxRecord.objects.filter(
            status__in=(OutboxStatus.SENT, OutboxStatus.SUPERSEDED), updated_at__lt=row_cutoff
        ),
        chunk_size=chunk_rows,
        raw=True,
    )
    deleted["calls"] = rows_delete_in_chunks(
        ProviderCall.objects.filter(created_at__lt=call_cutoff), chunk_size=chunk_rows, raw=True
    )
    deleted["batches"] = rows_delete_in_chunks(
        OutboxBatch.objects.filter(
            finished_at__lt=row_cutoff, records__isnull=True, calls__isnull=True
        ),
        chunk_size=chunk_rows,
        raw=True,
    )
    logger.info(
        "sync archive deleted records=%s calls=%s batches=%s",
        deleted["records"],
        deleted["calls"],
        deleted["batches"],
    )
    return deleted
