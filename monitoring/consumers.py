"""Which Celery queues have a live worker: heartbeats in the coordination Redis.

A worker's main process records `monitoring:v1:consumers:{queue}` (sorted set: worker name →
last heartbeat, epoch seconds) every HEARTBEAT_SECONDS for each queue it consumes, from
worker_ready until worker_shutdown; health counts the members seen in the last
CONSUMER_TTL_SECONDS. A queue nobody consumes is reported `down` (jobs pile up unseen), which
the broker alone cannot tell for Redis.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

import redis

from core import redis as coordination

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10.0
# Three missed heartbeats: a SIGKILLed or frozen worker stops counting after 30 s.
CONSUMER_TTL_SECONDS = 30.0


def consumers_key(queue: str) -> str:
    return f"monitoring:v1:consumers:{queue}"


def consumer_heartbeat_record(
    *, worker: str, queues: Iterable[str], now: float | None = None
) -> None:
    """Mark `worker` as consuming `queues` now. Raises CoordinationUnavailable."""
    now = time.time() if now is None else now

    def record(client: redis.Redis) -> None:
        pipe = client.pipeline(transaction=False)
        for queue in queues:
            key = consumers_key(queue)
            pipe.zadd(key, {worker: now})
            pipe.zremrangebyscore(key, 0, now - 10 * CONSUMER_TTL_SECONDS)  # long-gone workers
            pipe.expire(key, int(10 * CONSUMER_TTL_SECONDS))
        pipe.execute()

    coordination.call(record)


def consumer_forget(*, worker: str, queues: Iterable[str]) -> None:
    """A worker shutting down cleanly stops counting at once. Raises CoordinationUnavailable."""

    def forget(client: redis.Redis) -> None:
        pipe = client.pipeline(transaction=False)
        for queue in queues:
            pipe.zrem(consumers_key(queue), worker)
        pipe.execute()

    coordination.call(forget)


def consumer_counts(
    client: redis.Redis, *, queues: Iterable[str], now: float | None = None
) -> dict[str, int]:
    """Live consumers per queue (heartbeat within CONSUMER_TTL_SECONDS), read with `client`
    (health's probe client: no breaker)."""
    now = time.time() if now is None else now
    names = list(queues)
    pipe = client.pipeline(transaction=False)
    for queue in names:
        pipe.zcount(consumers_key(queue), now - CONSUMER_TTL_SECONDS, "+inf")
    return dict(zip(names, (int(count) for count in pipe.execute()), strict=True))


class _Heartbeat:
    """The worker's heartbeat thread (one per worker main process)."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.worker = ""
        self.queues: list[str] = []

    def beat_once(self) -> None:
        try:
            consumer_heartbeat_record(worker=self.worker, queues=self.queues)
        except coordination.CoordinationUnavailable as exc:
            logger.warning("consumer heartbeat failed worker=%s error=%s", self.worker, exc)

    def run(self) -> None:
        while not self.stop.is_set():
            self.beat_once()
            self.stop.wait(HEARTBEAT_SECONDS)


heartbeat = _Heartbeat()


def start_consumer_heartbeat(sender: Any = None, **_: Any) -> None:
    """worker_ready (sender: the worker's Consumer): start heartbeating its queues."""
    if sender is None or heartbeat.thread is not None:
        return
    heartbeat.worker = str(getattr(sender, "hostname", "") or "worker")
    heartbeat.queues = sorted(queue.name for queue in sender.task_consumer.queues)
    heartbeat.stop.clear()
    heartbeat.thread = threading.Thread(
        target=heartbeat.run, name="consumer-heartbeat", daemon=True
    )
    heartbeat.thread.start()
    logger.info("consumer heartbeat worker=%s queues=%s", heartbeat.worker, heartbeat.queues)


def stop_consumer_heartbeat(**_: Any) -> None:
    """worker_shutdown: stop heartbeating and leave the consumer sets at once."""
    if heartbeat.thread is None:
        return
    heartbeat.stop.set()
    heartbeat.thread.join(timeout=2)
    heartbeat.thread = None
    try:
        consumer_forget(worker=heartbeat.worker, queues=heartbeat.queues)
    except coordination.CoordinationUnavailable as exc:
        logger.warning("consumer forget failed worker=%s error=%s", heartbeat.worker, exc)
