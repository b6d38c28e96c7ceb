"""Relay: claim due outbox rows, spend budget, call the provider, record per-record results.

Every function takes `now` (an injected clock for tests and the benchmark; wall time when
None). Waiting is always expressed as `next_attempt_at` read by the beat tick, never as a
Celery countdown.
"""

from __future__ import annotations

import logging
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from core import redis as coordination
from syncqueue import budget, keys
from syncqueue.client import ProviderResponse, provider_send_batch, provider_send_single
from syncqueue.models import OutboxBatch, OutboxRecord, OutboxStatus

logger = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 30  # first retry after 15-30 s
BACKOFF_CAP_SECONDS = 3600  # never wait more than an hour (one budget window) between tries
# A partial remainder of at most 5 % of a batch (50 of 1,000) goes as single calls: 50 singles
# cost 1.4 % of the single budget, one batch call 2 % of the batch budget (worth 1,000 records).
SINGLE_REMAINDER_SHARE = 0.05
# With the batch budget spent, one run sends at most this many single calls (about 1 s each
# of a 3,600/h budget, so a run per minute keeps the single budget in use).
SINGLES_PER_RUN = 100
# A push run stops after this long and leaves the rest to the next job or tick.
PUSH_RUN_SECONDS = 120
CLAIM_LOCK_SECONDS = 30
# Candidates read per claim, as a multiple of the limit, so users in flight don't starve a batch.
CLAIM_SLACK_FACTOR = 2
CLAIM_LOCK_WAIT_SECONDS = 10.0


class ClaimBusy(Exception):
    """The claim lock stayed held by another claimer for CLAIM_LOCK_WAIT_SECONDS (contention,
    not a Redis outage: the coordination Redis answered). Nothing was claimed."""


@dataclass
class RunReport:
    batch_calls: int = 0
    single_calls: int = 0
    reclaimed: int = 0
    stopped_because: str = ""
    outcomes: list[str] = field(default_factory=list)


def _clock(now: datetime | None) -> datetime:
    return now or timezone.now()


def backoff_seconds(*, retry_count: int) -> float:
    """Exponential backoff with jitter: half fixed, half random, capped."""
    delay = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, retry_count - 1))
    return delay / 2 + random.uniform(0, delay / 2)


# --------------------------------------------------------------------------- claim


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
    from django.contrib.auth import get_user_model

    now = _clock(now)
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


# --------------------------------------------------------------------------- send + settle


def outbox_send_batch(*, batch_id: int, now: datetime | None = None) -> str:
    """Send one claimed batch and record the results; returns the outcome.

    Safe to repeat: rows are only updated while still pending in this batch, and the
    provider honours each row's idempotency key, so nothing is applied twice.
    """
    batch = OutboxBatch.objects.get(pk=batch_id)
    if batch.state != OutboxBatch.State.CLAIMED:
        return "skipped"
    rows = list(
        OutboxRecord.objects.filter(batch_id=batch.pk, status=OutboxStatus.PENDING).order_by("id")
    )
    if not rows:
        OutboxBatch.objects.filter(pk=batch.pk).update(
            state=OutboxBatch.State.DONE, finished_at=_clock(now)
        )
        return "empty"
    records = [row.as_provider_record() for row in rows]
    if batch.kind == OutboxBatch.Kind.BATCH:
        response = provider_send_batch(records=records, batch=batch)
    else:
        response = provider_send_single(record=records[0], batch=batch)
    _settle(batch=batch, rows=rows, response=response, now=_clock(now))
    return response.outcome


def _settle(
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
        mine.filter(pk__in=ids).update(
            status=OutboxStatus.FAILED,
            next_attempt_at=until,
            lease_expires_at=None,
            last_error=response.error,
            updated_at=now,
        )
        _finish(batch, OutboxBatch.State.FAILED, now)
        return
    if response.outcome != "ok":
        retry = max(row.retry_count for row in rows) + 1
        mine.filter(pk__in=ids).update(
            status=OutboxStatus.FAILED,
            retry_count=F("retry_count") + 1,
            next_attempt_at=now + timedelta(seconds=backoff_seconds(retry_count=retry)),
            lease_expires_at=None,
            last_error=response.error[:2000],
            updated_at=now,
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
            mine.filter(pk__in=[row.pk for row in missing]).update(
                status=OutboxStatus.FAILED,
                retry_count=F("retry_count") + 1,
                next_attempt_at=now + timedelta(seconds=backoff_seconds(retry_count=1)),
                lease_expires_at=None,
                last_error="no result for this record",
                updated_at=now,
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
            mine.filter(pk__in=group).update(
                status=OutboxStatus.FAILED,
                retry_count=retry,
                next_attempt_at=now + timedelta(seconds=backoff_seconds(retry_count=retry)),
                lease_expires_at=None,
                last_error=error,
                updated_at=now,
            )
    if parked:
        logger.error("sync rows parked batch=%s count=%s", batch.pk, parked)


# --------------------------------------------------------------------------- runs


def _due_count(*, now: datetime, cap: int) -> int:
    return len(OutboxRecord.objects.due(now=now).order_by("id").values_list("id", flat=True)[:cap])


def _one_call(*, kind: str, limit: int, now: datetime | None, report: RunReport) -> str:
    """Reserve budget, claim, send. Returns "sent", "failed" (the provider erred or refused:
    429, 5xx, timeout), "no_budget" or "nothing"."""
    at = _clock(now)
    reservation = budget.budget_reserve(kind=kind, now=at)
    if not reservation.is_granted:
        if kind == "batch" and reservation.remaining == 0:
            _mark_exhausted(kind=kind, window=reservation.window)
        return "no_budget"
    try:
        batch = outbox_claim(kind=kind, limit=limit, now=at)
    except Exception:
        # ClaimBusy, CoordinationUnavailable or DatabaseError: no call was made, so the
        # reservation goes back before the error propagates.
        budget.budget_refund(reservation=reservation)
        raise
    if batch is None:
        budget.budget_refund(reservation=reservation)
        return "nothing"
    outcome = outbox_send_batch(batch_id=batch.pk, now=now)
    report.outcomes.append(outcome)
    if kind == "batch":
        report.batch_calls += 1
    else:
        report.single_calls += 1
    return "failed" if outcome in ("error", "rate_limited") else "sent"


def outbox_push(
    *, now: datetime | None = None, flush: bool = False, max_seconds: float = PUSH_RUN_SECONDS
) -> RunReport:
    """Send full batches while a full batch is due and budget lasts; with `flush`, also the
    partial remainder (as single calls when small or when the batch budget is spent).

    Raises CoordinationUnavailable when budgets can't be checked (fail closed: nothing sent).
    """
    report = RunReport()
    size = settings.SYNC_BATCH_SIZE
    started = time.monotonic()
    while time.monotonic() - started < max_seconds:
        due = _due_count(now=_clock(now), cap=size)
        if due == 0:
            report.stopped_because = "empty"
            return report
        if due < size and not flush:
            report.stopped_because = "partial"
            return report
        if due <= max(1, int(size * SINGLE_REMAINDER_SHARE)):
            made, step = _singles(now=now, limit=due, report=report)
            if step == "failed":
                report.stopped_because = "provider_failed"
                return report
            if made:
                continue
        step = _one_call(kind="batch", limit=size, now=now, report=report)
        if step == "no_budget":
            if flush and _singles(now=now, limit=min(due, SINGLES_PER_RUN), report=report)[0]:
                report.stopped_because = "batch_budget_spent"
                return report
            report.stopped_because = "no_budget"
            return report
        if step == "nothing":
            report.stopped_because = "busy"
            return report
        if step == "failed":
            # Don't spend more budget on a provider that is failing; the tick tries again.
            report.stopped_because = "provider_failed"
            return report
    report.stopped_because = "time"
    return report


def _singles(*, now: datetime | None, limit: int, report: RunReport) -> tuple[int, str]:
    """Up to `limit` single calls; returns (calls that went through, the last step)."""
    made, step = 0, "nothing"
    for _ in range(limit):
        step = _one_call(kind="single", limit=1, now=now, report=report)
        if step != "sent":
            break
        made += 1
    return made, step


def outbox_tick(*, now: datetime | None = None) -> RunReport:
    """The every-minute beat step: reclaim expired leases, send full batches, and flush the
    remainder when its oldest row waited SYNC_MAX_DELAY_SECONDS or failed rows are due. With
    the batch budget spent and rows still due, single calls carry on (the whole budget is
    53,600 records an hour, not 50,000)."""
    at = _clock(now)
    reclaimed = outbox_reclaim_expired(now=at)
    report = outbox_push(now=now)
    report.reclaimed = reclaimed
    if report.stopped_because == "no_budget" or (
        report.stopped_because == "partial" and _flush_is_due(now=at)
    ):
        flushed = outbox_push(now=now, flush=True)
        report.batch_calls += flushed.batch_calls
        report.single_calls += flushed.single_calls
        report.outcomes += flushed.outcomes
        report.stopped_because = flushed.stopped_because
    return report


def _flush_is_due(*, now: datetime) -> bool:
    cutoff = now - timedelta(seconds=settings.SYNC_MAX_DELAY_SECONDS)
    due = OutboxRecord.objects.due(now=now)
    return (
        due.filter(status=OutboxStatus.FAILED).exists()
        or due.filter(created_at__lte=cutoff).exists()
    )


def outbox_reclaim_expired(*, now: datetime | None = None) -> int:
    """Rows whose lease ran out (their worker died) go back to unsent, keeping their
    idempotency key, so a batch the provider already applied is not applied twice."""
    now = _clock(now)
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
    now = _clock(now)
    return OutboxRecord.objects.filter(
        pk__in=record_ids, status__in=(OutboxStatus.PARKED, OutboxStatus.FAILED)
    ).update(
        status=OutboxStatus.UNSENT,
        retry_count=0,
        next_attempt_at=now,
        lease_expires_at=None,
        updated_at=now,
    )


# --------------------------------------------------------------------------- exhaustion streak

_EXHAUSTED_LUA = """
local last = tonumber(redis.call('HGET', KEYS[1], 'window') or '-1')
local window = tonumber(ARGV[1])
local streak = tonumber(redis.call('HGET', KEYS[1], 'streak') or '0')
if last == window then return streak end
if last == window - 1 then streak = streak + 1 else streak = 1 end
redis.call('HSET', KEYS[1], 'window', window, 'streak', streak)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return streak
"""


def _mark_exhausted(*, kind: str, window: int) -> None:
    if not coordination.is_configured():
        return
    key = keys.exhausted_streak_key(kind=kind)
    ttl_ms = 3 * settings.SYNC_WINDOW_SECONDS * 1000
    try:
        coordination.call(
            lambda _r: coordination.script(_EXHAUSTED_LUA)(keys=[key], args=[window, ttl_ms])
        )
    except coordination.CoordinationUnavailable:
        return


def exhausted_streak(*, kind: str, now: datetime) -> int:
    """Consecutive windows (ending now or just before) in which `kind`'s budget ran out."""
    if not coordination.is_configured():
        return 0
    raw = coordination.call(
        lambda r: r.hmget(keys.exhausted_streak_key(kind=kind), "window", "streak")
    )
    if raw[0] is None:
        return 0
    if int(raw[0]) < budget.window_of(now) - 1:
        return 0
    return int(raw[1] or 0)
