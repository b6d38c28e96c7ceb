"""Settle: record a provider response on the rows of its batch (sent, failed with backoff,
parked after SYNC_MAX_RETRIES rejections, superseded by a newer delivered state)."""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max, QuerySet
from django.db.models.expressions import Combinable

from core import redis as coordination
from syncqueue import budget
from syncqueue.client import ProviderResponse
from syncqueue.models import OutboxBatch, OutboxRecord, OutboxStatus

logger = logging.getLogger(__name__)


def backoff_seconds(*, retry_count: int) -> float:
    """Exponential backoff with jitter: half fixed, half random, capped. The first retry comes
    after 15-30 s and no wait exceeds an hour (one budget window), by default
    (SYNC_BACKOFF_BASE_SECONDS, SYNC_BACKOFF_CAP_SECONDS)."""
    delay: int = min(
        settings.SYNC_BACKOFF_CAP_SECONDS,
        settings.SYNC_BACKOFF_BASE_SECONDS * 2 ** max(0, retry_count - 1),
    )
    return delay / 2 + random.uniform(0, delay / 2)


def _mark_failed(
    rows: QuerySet[OutboxRecord],
    *,
    next_attempt_at: datetime,
    error: str,
    now: datetime,
    retry_count: int | Combinable | None = None,
) -> int:
    """Rows back to FAILED, due again at `next_attempt_at`, lease released. `retry_count`
    None leaves the count as it is (a 429 is not the rows' fault and burns no attempt)."""
    changes: dict[str, Any] = {
        "status": OutboxStatus.FAILED,
        "next_attempt_at": next_attempt_at,
        "lease_expires_at": None,
        "last_error": error,
        "updated_at": now,
    }
    if retry_count is not None:
        changes["retry_count"] = retry_count
    return rows.update(**changes)


def outbox_settle(
    *, batch: OutboxBatch, rows: list[OutboxRecord], response: ProviderResponse, now: datetime
) -> None:
    mine = OutboxRecord.objects.filter(batch_id=batch.pk, status=OutboxStatus.PENDING)
    ids = [row.pk for row in rows]
    if response.outcome == "rate_limited":
        # Not the rows' fault: no attempt burned; they wait for the pause to end.
        try:
            until = budget.budget_pause(
                kind=batch.kind, now=now, retry_after_seconds=response.retry_after_seconds
            )
        except coordination.CoordinationUnavailable:
            # Rows still wait out Retry-After; reservations fail closed meanwhile anyway.
            until = now + timedelta(seconds=max(1.0, response.retry_after_seconds))
        _mark_failed(mine.filter(pk__in=ids), next_attempt_at=until, error=response.error, now=now)
        _finish(batch, OutboxBatch.State.FAILED, now)
        return
    if response.outcome != "ok":
        retry = max(row.retry_count for row in rows) + 1
        _mark_failed(
            mine.filter(pk__in=ids),
            retry_count=F("retry_count") + 1,
            next_attempt_at=now + timedelta(seconds=backoff_seconds(retry_count=retry)),
            error=response.error[:2000],
            now=now,
        )
        _finish(batch, OutboxBatch.State.FAILED, now)
        logger.warning(
            "sync batch failed batch=%s rows=%s error=%s", batch.pk, len(ids), response.error
        )
        return
    by_key = {
        result.get("idempotency_key"): result
        for result in response.results
        if isinstance(result, dict)
    }
    ok_rows: list[OutboxRecord] = []
    rejected: list[tuple[OutboxRecord, str]] = []
    missing: list[OutboxRecord] = []
    for row in rows:
        result = by_key.get(row.idempotency_key)
        if result is None:
            missing.append(row)
        elif result.get("status") == "ok":
            ok_rows.append(row)
        else:
            rejected.append((row, str(result.get("error") or "rejected")))
    with transaction.atomic():
        if ok_rows:
            mine.filter(pk__in=[row.pk for row in ok_rows]).update(
                status=OutboxStatus.SENT,
                sent_at=now,
                lease_expires_at=None,
                last_error="",
                updated_at=now,
            )
            _supersede_older(rows=ok_rows, now=now)
        if rejected:
            _settle_rejected(batch=batch, rejected=rejected, now=now)
        if missing:
            _mark_failed(
                mine.filter(pk__in=[row.pk for row in missing]),
                retry_count=F("retry_count") + 1,
                next_attempt_at=now + timedelta(seconds=backoff_seconds(retry_count=1)),
                error="no result for this record",
                now=now,
            )
        _finish(batch, OutboxBatch.State.DONE, now)
    logger.info(
        "sync batch settled batch=%s kind=%s ok=%s rejected=%s missing=%s",
        batch.pk,
        batch.kind,
        len(ok_rows),
        len(rejected),
        len(missing),
    )


def _finish(batch: OutboxBatch, state: str, now: datetime) -> None:
    OutboxBatch.objects.filter(pk=batch.pk, state=OutboxBatch.State.CLAIMED).update(
        state=state, finished_at=now
    )


def _supersede_older(*, rows: list[OutboxRecord], now: datetime) -> int:
    """Rows older than a delivered state of the same user will never matter: superseded.

    Mergeable unsent rows (unsent_user_id set) are never touched: a capture may be raising
    their version right now, and they are always the user's newest state anyway.
    """
    newest: dict[int, int] = {}
    for row in rows:
        newest[row.user_id] = max(newest.get(row.user_id, 0), row.version)
    stale = [
        row_id
        for row_id, user_id, version in OutboxRecord.objects.filter(
            user_id__in=list(newest),
            status__in=(OutboxStatus.UNSENT, OutboxStatus.FAILED, OutboxStatus.PARKED),
            unsent_user_id__isnull=True,
        ).values_list("id", "user_id", "version")
        if version < newest[user_id]
    ]
    if not stale:
        return 0
    return OutboxRecord.objects.filter(
        pk__in=stale,
        status__in=(OutboxStatus.UNSENT, OutboxStatus.FAILED, OutboxStatus.PARKED),
        unsent_user_id__isnull=True,
    ).update(status=OutboxStatus.SUPERSEDED, lease_expires_at=None, updated_at=now)


def _settle_rejected(
    *, batch: OutboxBatch, rejected: list[tuple[OutboxRecord, str]], now: datetime
) -> None:
    mine = OutboxRecord.objects.filter(batch_id=batch.pk, status=OutboxStatus.PENDING)
    delivered = dict(
        OutboxRecord.objects.filter(
            user_id__in={row.user_id for row, _ in rejected}, status=OutboxStatus.SENT
        )
        .values("user_id")
        .annotate(newest=Max("version"))
        .values_list("user_id", "newest")
    )
    superseded = [row.pk for row, _ in rejected if delivered.get(row.user_id, 0) > row.version]
    if superseded:
        mine.filter(pk__in=superseded).update(
            status=OutboxStatus.SUPERSEDED, lease_expires_at=None, updated_at=now
        )
    groups: dict[tuple[int, str], list[int]] = defaultdict(list)
    for row, error in rejected:
        if row.pk not in superseded:
            groups[(row.retry_count + 1, error[:2000])].append(row.pk)
    parked = 0
    for (retry, error), group in groups.items():
        if retry >= settings.SYNC_MAX_RETRIES:
            parked += mine.filter(pk__in=group).update(
                status=OutboxStatus.PARKED,
                retry_count=retry,
                lease_expires_at=None,
                last_error=error,
                updated_at=now,
            )
        else:
            _mark_failed(
                mine.filter(pk__in=group),
                retry_count=retry,
                next_attempt_at=now + timedelta(seconds=backoff_seconds(retry_count=retry)),
                error=error,
                now=now,
            )
    if parked:
        logger.error("sync rows parked batch=%s count=%s", batch.pk, parked)
