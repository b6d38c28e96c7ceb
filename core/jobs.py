"""Celery plumbing shared by every app's jobs.py."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, current_app
from celery.exceptions import NotRegistered
from django.conf import settings

from core import redis as coordination

logger = logging.getLogger(__name__)


# After a failed publish this process skips publishing for REDIS_BREAKER_SECONDS.
publish_breaker = coordination.Breaker()


class PublishSkipped(Exception):
    """Not published: the broker failed moments ago in this process (breaker open)."""


# A message redelivered more often than this (e.g. it kills its worker every time) is dropped.
MAX_DELIVERIES = 5


class GuardedTask(Task[Any, Any]):
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


def job_get(name: str) -> Task[Any, Any]:
    """The registered job called `name` ("tasks.jobs.send_task_reminders_chunk").

    Looked up in the Celery app's registry, so `apply_async` honours eager mode (`make run`,
    the tests), which `send_task` ignores. Job modules are imported by Celery's autodiscovery
    (`config/celery.py`) on first use, so a caller never imports another module's jobs.
    Raises NotRegistered for a name no app defines: a typo fails loudly, not silently.
    """
    registry = current_app.tasks
    if name not in registry:
        current_app.loader.import_default_modules()  # runs autodiscover_tasks(related_name="jobs")
    if name not in registry:
        raise NotRegistered(name)
    return registry[name]


def enqueue(name: str, *args: Any, countdown: float = 0, strict: bool = False) -> bool:
    """Publish the job registered as `name` with positional `args`: no retry loop.

    `countdown`: seconds before a worker may run it (0, like Celery's None: at once).

    By default it never raises: durable rows plus beat sweeps catch up on anything not
    enqueued, so a broker outage costs latency, not data; returns whether it was published.
    Bounded by CELERY_PUBLISH_TIMEOUT_SECONDS outside workers (config/celery.py); after a
    failure the process skips the broker for REDIS_BREAKER_SECONDS (`publish_breaker`).
    `strict=True` re-raises the broker error (PublishSkipped while the breaker is open), for
    callers that must not record a fan-out as done (or must undo a marker) when the message
    was not published.
    """
    task = job_get(name)
    if publish_breaker.is_open() and not task.app.conf.task_always_eager:
        logger.warning("enqueue skipped: broker recently failed task=%s", name)
        if strict:
            raise PublishSkipped(name)
        return False
    try:
        task.apply_async(args=args, countdown=countdown, retry=False)
        return True
    except Exception as exc:  # broker down, DNS, timeouts: all mean "not enqueued"
        if not task.app.conf.task_always_eager:
            publish_breaker.trip()
        if strict:
            raise
        logger.warning("enqueue failed task=%s error=%s", name, exc)
        return False
