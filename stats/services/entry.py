"""The stats entry itself: compute it (two aggregate statements or the counters), store
it in the coordination Redis (entry + last-known-good, never replacing a newer copy), and
refresh it under the single-flight lock (the job and warm_stats)."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, DecimalField, Sum, Value
from django.db.models.functions import Coalesce

from core import redis as coordination
from stats import keys, metrics
from stats.models import Order

logger = logging.getLogger(__name__)

# KEYS: entry, lkg. ARGV: computed_at, fresh_until, body, etag, entry ttl ms, lkg ttl ms.
# Each copy is written only if it is older than this one: a slow refresh that finishes
# after a newer one never overwrites it. Returns 1 when the entry was written.
WRITE_LUA = """
local function put(key, ttl)
    local current = tonumber(redis.call('HGET', key, 'computed_at') or '0')
    if current >= tonumber(ARGV[1]) then
        return 0
    end
    redis.call('HSET', key, 'computed_at', ARGV[1], 'fresh_until', ARGV[2],
               'body', ARGV[3], 'etag', ARGV[4])
    redis.call('PEXPIRE', key, ttl)
    return 1
end
put(KEYS[2], ARGV[6])
return put(KEYS[1], ARGV[5])
"""


@dataclass(frozen=True)
class Snapshot:
    """One computed result: the rendered body plus its timing, all in epoch milliseconds."""

    body: bytes
    etag: str
    computed_at_ms: int
    fresh_until_ms: int

    @property
    def expires_at_ms(self) -> int:
        """After this the entry is gone; only the LKG (same bytes) may still be served."""
        return self.fresh_until_ms + settings.STATS_MAX_STALE_SECONDS * 1000

    def is_fresh(self, now_ms: int) -> bool:
        return now_ms < self.fresh_until_ms

    def age_seconds(self, now_ms: int) -> int:
        return max(0, (now_ms - self.computed_at_ms) // 1000)

    def is_within_lkg_age(self, now_ms: int) -> bool:
        return now_ms - self.computed_at_ms <= settings.STATS_LKG_MAX_AGE_SECONDS * 1000


class _ProcessCopy:
    """This process's newest snapshot (spares the transfer; served while Redis is down)."""

    def __init__(self) -> None:
        self.snapshot: Snapshot | None = None
        self.compute_lock = threading.Lock()
        self.retry_after = 0.0  # monotonic; see LOCAL_RETRY_SECONDS

    def offer(self, snapshot: Snapshot) -> None:
        current = self.snapshot
        if current is None or current.computed_at_ms < snapshot.computed_at_ms:
            self.snapshot = snapshot

    def clear(self) -> None:
        self.snapshot = None
        self.retry_after = 0.0


process_copy = _ProcessCopy()


def now_ms() -> int:
    return int(time.time() * 1000)


# --------------------------------------------------------------------------- compute / store


def _render(*, users: int, orders_total: Decimal, orders_count: int, computed_at_ms: int) -> bytes:
    generated_at = datetime.fromtimestamp(computed_at_ms / 1000, tz=UTC)
    return json.dumps(
        {
            "users": users,
            "orders": f"{orders_total.quantize(Decimal('0.01'))}",
            "orders_count": orders_count,
            "generated_at": generated_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        },
        separators=(",", ":"),
    ).encode()


def _from_aggregates() -> tuple[int, Decimal, int]:
    users = get_user_model().objects.count()
    totals = Order.objects.aggregate(
        orders_count=Count("*"),
        orders_total=Coalesce(
            Sum("amount"),
            Value(Decimal("0")),
            # SUM widens the column; 30 digits keeps Django's decimal conversion exact.
            output_field=DecimalField(max_digits=30, decimal_places=2),
        ),
    )
    return users, Decimal(totals["orders_total"]), int(totals["orders_count"])


def _from_counters() -> tuple[int, Decimal, int]:
    from stats.counters import Metric, counters_read

    values = counters_read()
    return (
        values[Metric.USERS],
        Decimal(values[Metric.ORDERS_TOTAL_CENTS]) / 100,
        values[Metric.ORDERS_COUNT],
    )


def stats_compute(*, at_ms: int | None = None) -> Snapshot:
    """Read the numbers (a replica via the router) and render the body: the two aggregate
    statements, or one read of the sharded counters with STATS_SOURCE=counters.

    `computed_at` is taken before the queries, so a slow computation never looks newer
    than one that started after it. Raises DatabaseError when the database is unreachable.
    """
    computed_at_ms = now_ms() if at_ms is None else at_ms
    started = time.perf_counter()
    if settings.STATS_SOURCE == "counters":
        users, orders_total, orders_count = _from_counters()
    else:
        users, orders_total, orders_count = _from_aggregates()
    elapsed = time.perf_counter() - started
    metrics.refresh_observed(seconds=elapsed)
    body = _render(
        users=users,
        orders_total=orders_total,
        orders_count=orders_count,
        computed_at_ms=computed_at_ms,
    )
    logger.info("stats computed users=%s seconds=%.3f", users, elapsed)
    return Snapshot(
        body=body,
        etag=f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}"',
        computed_at_ms=computed_at_ms,
        fresh_until_ms=computed_at_ms + settings.STATS_FRESH_SECONDS * 1000,
    )


def stats_entry_store(*, snapshot: Snapshot, at_ms: int | None = None) -> bool:
    """Write the entry and the LKG unless a newer copy is already there.

    Returns whether the entry was written. Embedded mode keeps it in this process only.
    Raises CoordinationUnavailable when Redis is configured but down.
    """
    process_copy.offer(snapshot)
    if not coordination.is_configured():
        return process_copy.snapshot is snapshot
    current_ms = now_ms() if at_ms is None else at_ms
    entry_ttl_ms = max(1, snapshot.expires_at_ms - current_ms)
    lkg_ttl_ms = max(1, snapshot.computed_at_ms + keys.lkg_ttl_seconds() * 1000 - current_ms)
    written = coordination.call(
        lambda _r: coordination.script(WRITE_LUA)(
            keys=[keys.ENTRY_KEY, keys.LKG_KEY],
            args=[
                snapshot.computed_at_ms,
                snapshot.fresh_until_ms,
                snapshot.body,
                snapshot.etag,
                entry_ttl_ms,
                lkg_ttl_ms,
            ],
        )
    )
    return bool(written)


def stats_refresh() -> Snapshot | None:
    """Recompute and store the entry under the compute lock (the job and warm_stats).

    Returns the new snapshot, or None when another process holds the lock (it is computing
    the same numbers). Raises DatabaseError if the database is unreachable; the lock is
    released either way. Redis down: computes and keeps the copy in this process.
    """
    if not coordination.is_configured():
        snapshot = stats_compute()
        stats_entry_store(snapshot=snapshot)
        return snapshot
    try:
        token = coordination.lock_acquire(keys.LOCK_KEY, ttl_seconds=settings.STATS_LOCK_SECONDS)
    except coordination.CoordinationUnavailable:
        logger.warning("stats refresh without redis: process copy only")
        snapshot = stats_compute()
        process_copy.offer(snapshot)
        return snapshot
    if token is None:
        logger.info("stats refresh skipped: another process holds the compute lock")
        return None
    try:
        snapshot = stats_compute()
        stats_entry_store(snapshot=snapshot)
        return snapshot
    finally:
        release_compute_lock(token)


def release_compute_lock(token: str) -> None:
    try:
        coordination.lock_release(keys.LOCK_KEY, token)
    except coordination.CoordinationUnavailable:
        logger.warning("stats lock not released: redis down; it expires by itself")
