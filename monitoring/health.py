"""Health probes, the per-process health cache and the drain switch.

Each probe runs in a small thread pool and gets PROBE_TIMEOUT_SECONDS: one that has not
answered by then counts as "slow" (stalled; the thread is left to finish on its own, bounded
by the connect and read timeouts), one that fails (refused, reset) as "down", so a health
check never waits on a 3-second connect timeout or a stalled database. The result is cached per process for
HEALTH_CACHE_SECONDS, so a load balancer polling every worker costs a few probes a second.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from functools import partial
from pathlib import Path
from typing import Any

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

PROBE_TIMEOUT_SECONDS = 0.25
# A probe that answered but took longer than this reports "slow".
SLOW_PROBE_MS = 100
HEALTH_CACHE_SECONDS = 2.0

OK, DOWN, SLOW, NOT_CONFIGURED = "ok", "down", "slow", "not_configured"
REDIS_BROKER_SCHEMES = ("redis://", "rediss://", "unix://")
# kombu's Redis transport keeps priorities 3/6/9 of a queue in sibling lists.
_PRIORITY_SEPARATOR = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)

_executor: ThreadPoolExecutor | None = None
_executor_pid: int | None = None
_executor_lock = threading.Lock()
_cache: dict[str, Any] = {"at": 0.0, "value": None}
_clients: dict[str, redis.Redis] = {}


def _pool() -> ThreadPoolExecutor:
    global _executor, _executor_pid
    if _executor is None or _executor_pid != os.getpid():
        with _executor_lock:
            if _executor is None or _executor_pid != os.getpid():
                # Threads do not survive a fork: a worker builds its own pool.
                _executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="health-probe")
                _executor_pid = os.getpid()
    return _executor


def probe_client(url: str) -> redis.Redis:
    """A Redis client with the probe's own short timeouts (no breaker: a probe must look)."""
    client = _clients.get(url)
    if client is None:
        # Twice the deadline: the deadline, not the socket, decides "slow" for a stalled Redis.
        client = redis.Redis.from_url(
            url,
            socket_timeout=2 * PROBE_TIMEOUT_SECONDS,
            socket_connect_timeout=2 * PROBE_TIMEOUT_SECONDS,
            retry_on_timeout=False,
        )
        _clients[url] = client
    return client


def _timed(probe: Callable[[], Any]) -> Callable[[], float]:
    """The probe's own duration in ms, measured in its thread (pool start-up not counted)."""

    def run() -> float:
        started = time.perf_counter()
        probe()
        return (time.perf_counter() - started) * 1000

    return run


def _outcome(future: Future[float], *, timeout: float, name: str) -> str:
    """ "ok", "slow" or "down" for a submitted probe, waiting at most `timeout` seconds."""
    try:
        elapsed_ms = future.result(timeout=timeout)
    except FutureTimeout:
        # Accepted but no answer within the deadline (a stalled or very slow dependency);
        # refused or failing probes raise instead and are "down".
        logger.warning("health probe over its deadline probe=%s", name)
        return SLOW
    except Exception as exc:
        logger.warning("health probe failed probe=%s error=%s", name, exc)
        return DOWN
    return SLOW if elapsed_ms > SLOW_PROBE_MS else OK


def probe_run(probe: Callable[[], Any]) -> str:
    """Run one probe with the deadline; "ok", "slow" or "down"."""
    future = _pool().submit(_timed(probe))
    return _outcome(
        future, timeout=PROBE_TIMEOUT_SECONDS, name=getattr(probe, "__name__", repr(probe))
    )


def probe_database(*, alias: str) -> None:
    """SELECT 1 on a fresh connection of `alias` (closed afterwards: probe threads are reused)."""
    from django.db import connections

    connection = connections.create_connection(alias)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        connection.close()


def _probe_redis(url: str) -> Callable[[], Any]:
    def probe() -> None:
        probe_client(url).ping()

    return probe


def _probe_queue(url: str, result: dict[str, Any]) -> Callable[[], Any]:
    def probe() -> None:
        from config.celery import QUEUES
        from monitoring.consumers import consumer_counts

        probe_client(url).ping()
        result["queue_size"] = sum(queue_sizes().values())
        if settings.REDIS_URL:
            result["consumers"] = consumer_counts(probe_client(settings.REDIS_URL), queues=QUEUES)

    return probe


def queue_sizes(*, queues: tuple[str, ...] | None = None) -> dict[str, int]:
    """Pending jobs per Celery queue on the broker Redis (LLEN, priorities included).

    Empty when the broker is not Redis (eager mode) or unreachable.
    """
    from config.celery import QUEUES

    names = queues or QUEUES
    url = settings.CELERY_BROKER_URL
    if not url.startswith(REDIS_BROKER_SCHEMES):
        return {}
    try:
        client = probe_client(url)
        pipe = client.pipeline(transaction=False)
        for queue in names:
            pipe.llen(queue)
            for step in _PRIORITY_STEPS:
                pipe.llen(f"{queue}{_PRIORITY_SEPARATOR}{step}")
        lengths = pipe.execute()
    except Exception as exc:
        logger.warning("queue size read failed error=%s", exc)
        return {}
    per_queue = 1 + len(_PRIORITY_STEPS)
    return {
        queue: int(sum(lengths[index * per_queue : (index + 1) * per_queue]))
        for index, queue in enumerate(names)
    }


def health_check(*, use_cache: bool = True) -> tuple[dict[str, Any], int]:
    """The health document and its HTTP status (drain not applied; see health_response).

    Primary database down → "unhealthy" (503); any other service down or slow → "degraded"
    (200); "not_configured" services are fine (embedded mode).
    """
    now = time.monotonic()
    cached: tuple[dict[str, Any], int] | None = _cache["value"]
    if use_cache and cached is not None and now - _cache["at"] < HEALTH_CACHE_SECONDS:
        return cached
    futures: dict[str, Future[float]] = {}
    pending: dict[str, Callable[[], Any]] = {"database": partial(probe_database, alias="default")}
    replica_aliases = list(settings.DATABASE_REPLICAS)
    for alias in replica_aliases:
        pending[f"replica:{alias}"] = partial(probe_database, alias=alias)
    if settings.REDIS_CACHE_URL:
        pending["cache"] = _probe_redis(settings.REDIS_CACHE_URL)
    if settings.REDIS_URL:
        pending["coordination"] = _probe_redis(settings.REDIS_URL)
    queue_metrics: dict[str, Any] = {"queue_size": 0, "consumers": {}}
    broker = settings.CELERY_BROKER_URL
    is_redis_broker = broker.startswith(REDIS_BROKER_SCHEMES)
    if is_redis_broker:
        pending["queue"] = _probe_queue(broker, queue_metrics)
    # All probes run at once: the whole check takes about one deadline at worst.
    started = time.perf_counter()
    for name, probe in pending.items():
        futures[name] = _pool().submit(_timed(probe))
    outcomes: dict[str, str] = {}
    for name, future in futures.items():
        remaining = max(0.0, PROBE_TIMEOUT_SECONDS - (time.perf_counter() - started))
        outcomes[name] = _outcome(future, timeout=remaining, name=name)
    replica_states = [outcomes[f"replica:{alias}"] for alias in replica_aliases]
    if not replica_states:
        replicas = NOT_CONFIGURED
    elif DOWN in replica_states:
        replicas = DOWN
    elif SLOW in replica_states:
        replicas = SLOW
    else:
        replicas = OK
    queue = outcomes.get("queue", NOT_CONFIGURED)
    consumers: dict[str, int] = queue_metrics["consumers"]
    if queue in (OK, SLOW) and any(count == 0 for count in consumers.values()):
        queue = DOWN  # a queue no worker consumes: its jobs wait forever
    elif queue == OK and queue_metrics["queue_size"] >= settings.ALERT_QUEUE_SIZE:
        queue = SLOW  # answering, but jobs wait longer than they should
    services = {
        "database": outcomes["database"],
        "replicas": replicas,
        "cache": outcomes.get("cache", NOT_CONFIGURED),
        "coordination": outcomes.get("coordination", NOT_CONFIGURED),
        "queue": queue,
    }
    if services["database"] == DOWN:
        status, code = "unhealthy", 503
    elif any(state in (DOWN, SLOW) for state in services.values()):
        status, code = "degraded", 200
    else:
        status, code = "healthy", 200
    document = {
        "status": status,
        "services": services,
        "metrics": {"queue_size": int(queue_metrics["queue_size"]), "consumers": consumers},
    }
    result = (document, code)
    _cache.update(at=time.monotonic(), value=result)
    return result


def health_cache_clear() -> None:
    _cache.update(at=0.0, value=None)


# --------------------------------------------------------------------------- drain


def drain_start(*, seconds: int | None = None, now: float | None = None) -> float:
    """Write the drain file; health answers 503 until the returned unix deadline."""
    seconds = settings.DRAIN_SECONDS if seconds is None else seconds
    deadline = (now if now is not None else time.time()) + seconds
    path = Path(settings.DRAIN_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(f"{deadline:.3f}\n")
    temporary.replace(path)  # atomic: a reader never sees a half-written deadline
    return deadline


def drain_cancel() -> bool:
    try:
        Path(settings.DRAIN_FILE).unlink()
        return True
    except FileNotFoundError:
        return False


def drain_deadline() -> float | None:
    """The drain deadline, or None when not draining.

    A drain file without a readable deadline (`touch $DRAIN_FILE`) drains for DRAIN_SECONDS
    from its modification time.
    """
    path = Path(settings.DRAIN_FILE)
    try:
        text = path.read_text().strip()
        modified = path.stat().st_mtime
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        logger.warning("drain file unreadable path=%s error=%s", path, exc)
        return None
    try:
        return float(text)
    except ValueError:
        return modified + settings.DRAIN_SECONDS


def drain_is_active(*, now: float | None = None) -> bool:
    deadline = drain_deadline()
    return deadline is not None and (now if now is not None else time.time()) < deadline
