"""Relay: push runs that reserve budget, claim (claim.py), call the provider and settle
(settle.py), plus the budget-exhaustion streak the alerts read.

Every function takes `now` (an injected clock for tests and the benchmark; wall time when
None). Waiting is always expressed as `next_attempt_at` read by the beat tick, never as a
Celery countdown.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from core import redis as coordination
from syncqueue import budget, keys
from syncqueue.client import provider_send_batch, provider_send_single
from syncqueue.models import OutboxBatch, OutboxRecord, OutboxStatus
from syncqueue.services.claim import outbox_claim, outbox_reclaim_expired
from syncqueue.services.settle import outbox_settle

logger = logging.getLogger(__name__)

# A partial remainder of at most 5 % of a batch (50 of 1,000) goes as single calls: 50 singles
# cost 1.4 % of the single budget, one batch call 2 % of the batch budget (worth 1,000 records).
SINGLE_REMAINDER_SHARE = 0.05
# With the batch budget spent, one run sends at most this many single calls (about 1 s each
# of a 3,600/h budget, so a run per minute keeps the single budget in use).
SINGLES_PER_RUN = 100
# A push run stops after this long and leaves the rest to the next job or tick.
PUSH_RUN_SECONDS = 120


@dataclass
class RunReport:
    batch_calls: int = 0
    single_calls: int = 0
    reclaimed: int = 0
    stopped_because: str = ""
    outcomes: list[str] = field(default_factory=list)


def _clock(now: datetime | None) -> datetime:
    return now or timezone.now()


# --------------------------------------------------------------------------- send


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
    outbox_settle(batch=batch, rows=rows, response=response, now=_clock(now))
    return response.outcome


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
        lambda r: r.hmget(keys.exhausted_streak_key(kind=kind), ["window", "streak"])
    )
    if raw[0] is None:
        return 0
    if int(raw[0]) < budget.window_of(now) - 1:
        return 0
    return int(raw[1] or 0)
