"""Celery plumbing shared by every app's jobs.py."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from django.conf import settings

from core import redis as coordination

logger = logging.getLogger(__name__)

# A message redelivered more often than this (e.g. it kills its worker every time) is dropped.
MAX_DELIVERIES = 5


class GuardedTask(Task):
    """Base task: drops poison messages that keep getting redelivered after worker loss
    (task_reject_on_worker_lost would otherwise loop them forever)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self.request.called_directly and not self.request.is_eager and self.request.id:
            try:
                deliveries = coordination.counter_incr(
                    f"core:v1:deliveries:{self.request.id}",
                    ttl_seconds=2 * settings.CELERY_VISIBILITY_TIMEOUT_SECONDS,
                )
            except coordination.CoordinationUnavailable:
                deliveries = 1  # guard unavailable: run it; jobs are idempotent
            if deliveries > MAX_DELIVERIES:
                logger.error(
                    "job dropped after repeated redelivery task=%s id=%s deliveries=%s",
                    self.name,
                    self.request.id,
                    deliveries,
                )
                return None
        return super().__call__(*args, **kwargs)


def enqueue(task: Any, *args: Any, **kwargs: Any) -> bool:
    """Publish a job from a request path: no retry loop, never raises.

    Durable rows plus beat sweeps catch up on anything not enqueued, so a broker outage
    costs latency, not data. Returns whether the message was published.
    """
    try:
        task.apply_async(args=args, kwargs=kwargs, retry=False)
        return True
    except Exception as exc:  # broker down, DNS, timeouts: all mean "not enqueued"
        logger.warning("enqueue failed task=%s error=%s", getattr(task, "name", task), exc)
        return False
