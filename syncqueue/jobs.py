"""Celery jobs of the sync relay (queue `sync`, see config/celery.py).

Jobs never wait with countdowns: rows that must wait carry `next_attempt_at`, and the
every-minute `sync_tick` picks them up. Redis down → the run sends nothing (fail closed).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from core import redis as coordination
from syncqueue import keys
from syncqueue.services import (
    ClaimBusy,
    outbox_archive,
    outbox_push,
    outbox_reclaim_expired,
    outbox_tick,
)

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, soft_time_limit=200, time_limit=240)
def push_outbox_batches() -> dict[str, Any]:
    """Send full batches while a full batch is due and the budget lasts (enqueued after commit
    by the backlog check). Idempotent: it only claims due rows."""
    try:
        report = outbox_push()
    except ClaimBusy as exc:
        logger.info("sync push skipped: claim lock busy error=%s", exc)
        return {"skipped": "claim_busy"}
    except coordination.CoordinationUnavailable as exc:
        logger.warning("sync push skipped: coordination down error=%s", exc)
        return {"skipped": "coordination_unavailable"}
    finally:
        try:
            coordination.value_delete(keys.KICK_KEY)
        except coordination.CoordinationUnavailable:
            logger.warning("sync kick key not cleared; it expires on its own")
    return {
        "batch_calls": report.batch_calls,
        "single_calls": report.single_calls,
        "stopped": report.stopped_because,
    }


@shared_task(acks_late=True, soft_time_limit=200, time_limit=240)
def sync_tick() -> dict[str, Any]:
    """Every minute: reclaim expired leases, send due full batches, flush old partial batches
    and due retries. (The sync alerts are evaluated by monitoring's evaluator.)"""
    try:
        report = outbox_tick()
    except ClaimBusy as exc:
        logger.info("sync tick sent nothing: claim lock busy error=%s", exc)
        report, skipped = None, "claim_busy"
    except coordination.CoordinationUnavailable as exc:
        logger.warning("sync tick sent nothing: coordination down error=%s", exc)
        report, skipped = None, "coordination_unavailable"
    if report is None:
        return {"skipped": skipped}
    return {
        "batch_calls": report.batch_calls,
        "single_calls": report.single_calls,
        "reclaimed": report.reclaimed,
        "stopped": report.stopped_because,
    }


@shared_task(acks_late=True, soft_time_limit=200, time_limit=240)
def sync_sweep() -> dict[str, Any]:
    """Hourly backstop: reclaim expired leases (also done by each tick)."""
    return {"reclaimed": outbox_reclaim_expired()}


@shared_task(acks_late=True, soft_time_limit=200, time_limit=240)
def sync_archive() -> dict[str, Any]:
    """Daily: delete sent/superseded rows and old provider calls past retention, in chunks."""
    return outbox_archive()
