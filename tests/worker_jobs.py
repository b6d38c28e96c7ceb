"""Jobs only the worker-process tests import (`celery worker --include tests.worker_jobs`)."""

from __future__ import annotations

import time

from celery import shared_task

from core import redis as coordination


@shared_task(name="tests.worker_jobs.sleep_then_mark", acks_late=True)
def sleep_then_mark(key: str, seconds: float) -> None:
    """Sleep (a job in flight), then count one run under `key` on the coordination Redis."""
    time.sleep(seconds)
    coordination.counter_incr(key, ttl_seconds=600)


@shared_task(name="tests.worker_jobs.mark_then_sleep", acks_late=True)
def mark_then_sleep(key: str, seconds: float) -> None:
    """Count one start under `key`, then sleep (a job a test kills mid-way)."""
    coordination.counter_incr(key, ttl_seconds=600)
    time.sleep(seconds)
