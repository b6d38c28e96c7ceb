"""Per-process request aggregates, flushed to the coordination Redis at most once a second.

A request only adds to a dict in this process. A daemon thread (one per process, started
on first use and again after a fork) flushes the pending minute buckets with one pipeline
per second, so alerting (`evaluate_alerts`) and the ops charts see the sum over every
process without any Redis call on the request path. Slow queries ride the same flush.

Without `REDIS_URL` (embedded mode) buckets are kept in this process instead.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import defaultdict
from typing import Any

import redis

from monitoring import keys

logger = logging.getLogger(__name__)

FLUSH_INTERVAL_SECONDS = 1.0
# Non-cumulative latency buckets (ms) for p95 estimates on the ops charts and alerts.
LATENCY_EDGES_MS = (10, 25, 50, 100, 250, 500, 1000, 2500, 5000)
# Fields summed as floats (HINCRBYFLOAT); every other field is an integer count.
FLOAT_FIELDS = frozenset({"duration_ms_sum"})
# Tests turn the background thread off to flush by hand with an injected clock.
is_flush_thread_enabled = True

_lock = threading.Lock()
_pending: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
_pending_slow: list[dict[str, Any]] = []
_last_flush = 0.0
_thread_pid: int | None = None
_wakeup = threading.Event()
# Embedded mode (no coordination Redis): minute buckets and slow queries of this process.
_local_minutes: dict[int, dict[str, float]] = {}
_local_slow: list[dict[str, Any]] = []


def latency_field(duration_ms: float) -> str:
    for edge in LATENCY_EDGES_MS:
        if duration_ms <= edge:
            return f"le_{edge}"
    return "le_inf"


def record_request(*, status: int, duration_ms: float, now: float | None = None) -> None:
    """Add one finished request to this process's current minute bucket (no I/O)."""
    minute = int((now if now is not None else time.time()) // 60)
    with _lock:
        bucket = _pending[minute]
        bucket["requests"] += 1
        bucket["duration_ms_sum"] += duration_ms
        bucket[latency_field(duration_ms)] += 1
        if status >= 500:
            bucket["errors"] += 1
        elif status == 429:
            bucket["rate_limited"] += 1
    _ensure_thread()


def record_cache(*, is_hit: bool, now: float | None = None) -> None:
    minute = int((now if now is not None else time.time()) // 60)
    with _lock:
        _pending[minute]["cache_hit" if is_hit else "cache_miss"] += 1
    _ensure_thread()


def record_slow_query(entry: dict[str, Any]) -> None:
    with _lock:
        _pending_slow.append(entry)
        del _pending_slow[: -keys.SLOW_QUERIES_KEPT]
    _ensure_thread()


def flush(*, now: float | None = None, force: bool = False) -> bool:
    """Write pending buckets to Redis, at most once per FLUSH_INTERVAL_SECONDS.

    Returns whether anything was written. A Redis failure drops this second's counts
    (logged): alerting is best effort and must never slow a request or grow memory.
    """
    global _last_flush
    from core import redis as coordination

    moment = now if now is not None else time.time()
    with _lock:
        if not force and moment - _last_flush < FLUSH_INTERVAL_SECONDS:
            return False
        _last_flush = moment
        if not _pending and not _pending_slow:
            return False
        pending = {minute: dict(fields) for minute, fields in _pending.items()}
        slow = list(_pending_slow)
        _pending.clear()
        _pending_slow.clear()
    if not coordination.is_configured():
        _merge_local(pending, slow)
        return True

    def _write(client: Any) -> None:
        pipe = client.pipeline(transaction=False)
        for minute, fields in pending.items():
            key = keys.aggregate_key(minute)
            for field, amount in fields.items():
                if field in FLOAT_FIELDS:
                    pipe.hincrbyfloat(key, field, amount)
                else:
                    pipe.hincrby(key, field, int(amount))
            pipe.expire(key, keys.AGGREGATE_TTL_SECONDS)
        if slow:
            pipe.lpush(keys.SLOW_QUERIES_KEY, *[json.dumps(entry) for entry in slow])
            pipe.ltrim(keys.SLOW_QUERIES_KEY, 0, keys.SLOW_QUERIES_KEPT - 1)
        pipe.execute()

    try:
        coordination.call(_write)
    except (coordination.CoordinationUnavailable, redis.RedisError) as exc:
        logger.warning("metrics aggregate flush dropped minutes=%s error=%s", len(pending), exc)
        return False
    return True


def _merge_local(pending: dict[int, dict[str, float]], slow: list[dict[str, Any]]) -> None:
    cutoff = int(time.time() // 60) - keys.AGGREGATE_TTL_SECONDS // 60
    for minute, fields in pending.items():
        bucket = _local_minutes.setdefault(minute, {})
        for field, amount in fields.items():
            bucket[field] = bucket.get(field, 0.0) + amount
    for minute in [m for m in _local_minutes if m < cutoff]:
        del _local_minutes[minute]
    _local_slow[:0] = list(reversed(slow))
    del _local_slow[keys.SLOW_QUERIES_KEPT :]


def minutes_read(*, first_minute: int, last_minute: int) -> dict[int, dict[str, float]]:
    """Summed buckets for epoch minutes first..last inclusive (missing minutes are absent)."""
    from core import redis as coordination

    minutes = list(range(first_minute, last_minute + 1))
    if not coordination.is_configured():
        return {m: dict(_local_minutes[m]) for m in minutes if m in _local_minutes}

    def _read(client: Any) -> list[dict[bytes, bytes]]:
        pipe = client.pipeline(transaction=False)
        for minute in minutes:
            pipe.hgetall(keys.aggregate_key(minute))
        hashes: list[dict[bytes, bytes]] = pipe.execute()
        return hashes

    rows = coordination.call(_read)
    result: dict[int, dict[str, float]] = {}
    for minute, row in zip(minutes, rows, strict=True):
        if row:
            result[minute] = {k.decode(): float(v) for k, v in row.items()}
    return result


def slow_queries_read(*, limit: int = keys.SLOW_QUERIES_KEPT) -> list[dict[str, Any]]:
    from core import redis as coordination

    if not coordination.is_configured():
        return list(_local_slow[:limit])
    raw = coordination.call(lambda r: r.lrange(keys.SLOW_QUERIES_KEY, 0, limit - 1))
    return [json.loads(item) for item in raw]


def latency_percentile(fields: dict[str, float], *, quantile: float) -> float | None:
    """Upper edge (ms) of the bucket holding the quantile; None without requests."""
    total = fields.get("requests", 0.0)
    if not total:
        return None
    target = total * quantile
    seen = 0.0
    for edge in LATENCY_EDGES_MS:
        seen += fields.get(f"le_{edge}", 0.0)
        if seen >= target:
            return float(edge)
    return float(LATENCY_EDGES_MS[-1]) * 2


def reset() -> None:
    """Forget everything pending and stored in process (tests)."""
    global _last_flush
    with _lock:
        _pending.clear()
        _pending_slow.clear()
        _local_minutes.clear()
        _local_slow.clear()
        _last_flush = 0.0


def _ensure_thread() -> None:
    global _thread_pid
    pid = os.getpid()
    if _thread_pid == pid or not is_flush_thread_enabled:
        return
    with _lock:
        if _thread_pid == pid:
            return
        _thread_pid = pid
    thread = threading.Thread(target=_flush_loop, name="metrics-flush", daemon=True)
    thread.start()


def _flush_loop() -> None:
    from monitoring import metrics

    pid = os.getpid()
    while _thread_pid == pid and is_flush_thread_enabled:
        _wakeup.wait(FLUSH_INTERVAL_SECONDS)
        try:
            flush()
            metrics.memory_usage_update()
        except Exception:  # the flusher must survive anything; counts are best effort
            logger.exception("metrics flush loop error")
