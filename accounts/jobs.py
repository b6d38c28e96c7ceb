"""Accounts jobs: the nightly purge of expired refresh-token records."""

from __future__ import annotations

import logging

from celery import shared_task

from accounts.tokens import tokens_flush_expired

logger = logging.getLogger(__name__)


@shared_task(soft_time_limit=240, time_limit=300)
def flush_expired_tokens() -> int:
    """Beat, 03:00 UTC daily: simplejwt's flushexpiredtokens, in chunks. Idempotent."""
    deleted = tokens_flush_expired()
    logger.info("expired tokens flushed deleted=%s", deleted)
    return deleted
