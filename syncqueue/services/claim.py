"""Claim: due outbox rows into a leased batch, one claimer at a time; expired leases and the
admin requeue put rows back."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from core import redis as coordination
from syncqueue import keys
from syncqueue.models import OutboxBatch, OutboxRecord, OutboxStatus

logger = logging.getLogger(__name__)

CLAIM_LOCK_SECONDS = 30
# Candidates read per claim, as a multiple of the limit, so users in flight don't starve a batch.
CLAIM_SLACK_FACTOR = 2
CLAIM_LOCK_WAIT_SECONDS = 10.0


class ClaimBusy(Exception):
    """The claim lock stayed held by another claimer for CLAIM_LOCK_WAIT_SECONDS (contention,
    not a Redis outage: the coordination Redis answered). Nothing was claimed."""


def _claim_lock() -> str:
    deadline = time.monotonic() + CLAIM_LOCK_WAIT_SECONDS
    while True:
        token = coordination.lock_acquire(keys.CLAIM_LOCK_KEY, ttl_seconds=CLAIM_LOCK_SECONDS)
        if token:
            return token
        if time.monotonic() > deadline:
            raise ClaimBusy("sync claim lock stayed busy")
        time.sleep(0.01)  # claims take milliseconds; this is a mutex wait, not a clock


def outbox_claim(*, kind: str, limit: int, now: datetime | None = None) -> OutboxBatch | None:
    """Claim up to `limit` due rows (id order) into a new batch with a lease; None if none.

    Lock order is the one captures use: the user row first (a save holds it while it writes
    the outbox), then the outbox rows, both with `FOR UPDATE SKIP LOCKED`, so a user being
    saved right now is simply left for the next claim and claims never deadlock with saves.
    Users with a row already in flight (pending) are left for later too, so one user's states
    go out in order. Claims are serialized by a short coordination lock (raises
    CoordinationUnavailable when Redis is down, ClaimBusy when the lock stays held).
    """
    now = now or timezone.now()
    lease_expires_at = now + timedelta(seconds=settings.SYNC_LEASE_SECONDS)
    token = _claim_lock()
    try:
        with transaction.atomic():
            peek = list(
                OutboxRecord.objects.due(now=now)
                .order_by("id")
                .values_list("id", "user_id")[: limit * CLAIM_SLACK_FACTOR]
            )
            if not peek:
                return None
            users = set(
                get_user_model()
                .objects.filter(pk__in={user for _, user in peek})
                .order_by("pk")
                .select_for_update(skip_locked=True)
                .values_list("pk", flat=True)
            )
            candidates = list(
                OutboxRecord.objects.due(now=now)
                .filter(pk__in=[row_id for row_id, user in peek if user in users])
                .order_by("id")
                .select_for_update(skip_locked=True)
                .values_list("id", "user_id")
            )
            if not candidates:
                return None
            busy = set(
                OutboxRecord.objects.filter(
                    status=OutboxStatus.PENDING, user_id__in={user for _, user in candidates}
                ).values_list("user_id", flat=True)
            )
            ids = [row_id for row_id, user in candidates if user not in busy][:limit]
            if not ids:
                return None
            batch = OutboxBatch.objects.create(
                kind=kind, size=len(ids), lease_expires_at=lease_expires_at, created_at=now
            )
            OutboxRecord.objects.filter(pk__in=ids).update(
                status=OutboxStatus.PENDING,
                unsent_user_id=None,
                batch=batch,
                lease_expires_at=lease_expires_at,
                updated_at=now,
            )
    finally:
        try:
            coordination.lock_release(keys.CLAIM_LOCK_KEY, token)
        except coordination.CoordinationUnavailable:
            # The claim is committed and must be sent; the lock expires on its own.
            logger.warning("sync claim lock not released; it expires in %s s", CLAIM_LOCK_SECONDS)
    logger.info(
        "sync claimed batch=%s kind=%s rows=%s candidates=%s busy_users=%s",
        batch.pk,
        kind,
        len(ids),
        len(candidates),
        len(busy),
    )
    return batch


def outbox_reclaim_expired(*, now: datetime | None = None) -> int:
    """Rows whose lease ran out (their worker died) go back to unsent, keeping their
    idempotency key, so a batch the provider already applied is not applied twice."""
    now = now or timezone.now()
    ids = list(OutboxRecord.objects.lease_expired(now=now).values_list("id", flat=True)[:10000])
    if not ids:
        return 0
    count = OutboxRecord.objects.filter(
        pk__in=ids, status=OutboxStatus.PENDING, lease_expires_at__lt=now
    ).update(status=OutboxStatus.UNSENT, lease_expires_at=None, next_attempt_at=now, updated_at=now)
    OutboxBatch.objects.filter(state=OutboxBatch.State.CLAIMED, lease_expires_at__lt=now).update(
        state=OutboxBatch.State.EXPIRED, finished_at=now
    )
    logger.warning("sync leases expired rows=%s", count)
    return count


def outbox_requeue(*, record_ids: list[int], now: datetime | None = None) -> int:
    """Admin action: parked or failed rows go back to unsent with a fresh retry count."""
    now = now or timezone.now()
    return OutboxRecord.objects.filter(
        pk__in=record_ids, status__in=(OutboxStatus.PARKED, OutboxStatus.FAILED)
    ).update(
        status=OutboxStatus.UNSENT,
        retry_count=0,
        next_attempt_at=now,
        lease_expires_at=None,
        updated_at=now,
    )
