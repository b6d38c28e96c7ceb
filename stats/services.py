"""The stats entry: compute, store, and serve it (GET /api/stats and the refresh job).

Hot path (`stats_serve`): ONE script call on the coordination Redis decides the `stats`
rate limit (the GCRA of core.limiter, embedded) and returns the entry, or only its
timestamps when this process already holds the same copy. No database, no JSON work:
the entry is the rendered body.

- Fresh → HIT. Stale (within STATS_MAX_STALE_SECONDS) → served at once as STALE; the same
  script sets the enqueue guard so one refresh job is published per stale period.
- Cold (no entry) → single flight: the holder of `stats:v1:lock` computes (two statements,
  on a replica through the router) and stores entry + last-known-good; the others poll for
  up to STATS_COLD_WAIT_MS, then serve the LKG or answer 503. They never query the database.
- Coordination Redis down (breaker) or not configured (embedded mode): the limiter falls
  back to core.limiter's in-process GCRA (fail open, counted), and the process serves its
  own copy or computes under a process-local lock.
- Database down: whatever copy is still within its budget is served; otherwise 503.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError
from django.db.models import Count, DecimalField, Sum, Value
from django.db.models.functions import Coalesce

from core import redis as coordination
from core.jobs import enqueue
from core.limiter import (
    GCRA_LUA_FUNCTION,
    Decision,
    decision_from_script_result,
    limiter_key,
    policy_for,
    rate_limit_check,
)
from stats import keys, metrics
from stats.models import Order

logger = logging.getLogger(__name__)

SCOPE = "stats"
# Cold waiters re-read the entry this often while the lock holder computes.
COLD_POLL_SECONDS = 0.02
# After a failed in-process computation (database down) this process waits this long
# before trying again, so a dead database costs one connect attempt per process per second.
LOCAL_RETRY_SECONDS = 1.0

HIT, STALE, MISS, LKG = "HIT", "STALE", "MISS", "LKG"

# KEYS: limiter bucket, entry, enqueue guard.
# ARGV: interval ms, period ms, now ms, computed_at the caller holds ("0" = none),
#       guard ttl ms, enforce limit ("1"/"0").
# Returns {allowed, remaining, retry_ms, reset_ms, status, enqueue, computed_at, fresh_until,
#          body, etag}; status 0 = no entry, 1 = caller's copy is current (no body sent),
#          2 = entry sent. A refused request stops after the limiter: refusals are cheap.
READ_LUA = (
    GCRA_LUA_FUNCTION
    + """
local d
if ARGV[6] == '1' then
    d = gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3])
else
    d = {1, 0, 0, 0}
end
if d[1] == 0 then
    return {d[1], d[2], d[3], d[4], 0, 0}
end
local meta = redis.call('HMGET', KEYS[2], 'computed_at', 'fresh_until')
if not meta[1] or not meta[2] then
    return {d[1], d[2], d[3], d[4], 0, 0}
end
local should_enqueue = 0
if tonumber(meta[2]) <= tonumber(ARGV[3]) then
    if redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[5]) then
        should_enqueue = 1
    end
end
if meta[1] == ARGV[4] then
    return {d[1], d[2], d[3], d[4], 1, should_enqueue, meta[1], meta[2]}
end
local rest = redis.call('HMGET', KEYS[2], 'body', 'etag')
return {d[1], d[2], d[3], d[4], 2, should_enqueue, meta[1], meta[2], rest[1], rest[2]}
"""
)

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


@dataclass(frozen=True)
class Outcome:
    """What the view sends: a snapshot with its X-Cache value, or nothing (429/503)."""

    decision: Decision
    snapshot: Snapshot | None = None
    cache: str = ""


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
_scripts: dict[str, Any] = {}


def now_ms() -> int:
    return int(time.time() * 1000)


def _script(client: Any, source: str) -> Any:
    """The registered script for this client (re-registered when the client was replaced)."""
    script = _scripts.get(source)
    if script is None or script.registered_client is not client:
        script = client.register_script(source)
        _scripts[source] = script
    return script


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
        lambda r: _script(r, WRITE_LUA)(
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
        _release(token)


def _release(token: str) -> None:
    try:
        coordination.lock_release(keys.LOCK_KEY, token)
    except coordination.CoordinationUnavailable:
        logger.warning("stats lock not released: redis down; it expires by itself")


# --------------------------------------------------------------------------- serve


def stats_serve(*, subject: str, at_ms: int | None = None) -> Outcome:
    """Decide the rate limit for `subject` and find something to serve (see module docstring).

    Never raises for Redis or database faults: the worst outcome is `snapshot=None` with an
    allowed decision (503) or a refusal (429).
    """
    current_ms = now_ms() if at_ms is None else at_ms
    if not coordination.is_configured():
        return _serve_in_process(subject=subject, at_ms=current_ms)
    policy = policy_for(SCOPE)
    held = process_copy.snapshot
    try:
        raw = coordination.call(
            lambda r: _script(r, READ_LUA)(
                keys=[limiter_key(SCOPE, subject), keys.ENTRY_KEY, keys.REFRESH_GUARD_KEY],
                args=[
                    policy.emission_interval_ms,
                    policy.period_ms,
                    current_ms,
                    held.computed_at_ms if held is not None else 0,
                    keys.REFRESH_JOB_TIME_LIMIT_SECONDS * 1000,
                    "1" if settings.RATE_LIMIT_ENABLED else "0",
                ],
            )
        )
    except coordination.CoordinationUnavailable:
        return _serve_in_process(subject=subject, at_ms=current_ms)
    decision = decision_from_script_result(policy, raw[:4])
    if not decision.is_allowed:
        return Outcome(decision=decision)
    status = int(raw[4])
    if status == 0:
        return _serve_cold(decision=decision, at_ms=current_ms)
    if status == 1 and held is not None:
        snapshot = held
    else:
        snapshot = Snapshot(
            body=raw[8],
            etag=raw[9].decode(),
            computed_at_ms=int(raw[6]),
            fresh_until_ms=int(raw[7]),
        )
        process_copy.offer(snapshot)
    if int(raw[5]):
        _enqueue_refresh()
    return Outcome(
        decision=decision, snapshot=snapshot, cache=HIT if snapshot.is_fresh(current_ms) else STALE
    )


def _enqueue_refresh() -> None:
    from stats.jobs import refresh_stats_snapshot

    if enqueue(refresh_stats_snapshot):
        metrics.refresh_enqueued()
    else:
        # The guard stays set until it expires; beat refreshes meanwhile.
        logger.warning("stats refresh not enqueued: broker unavailable")


def _read_entry(key: str) -> Snapshot | None:
    raw = coordination.call(lambda r: r.hmget(key, ["computed_at", "fresh_until", "body", "etag"]))
    if any(value is None for value in raw):
        return None
    return Snapshot(
        body=raw[2], etag=raw[3].decode(), computed_at_ms=int(raw[0]), fresh_until_ms=int(raw[1])
    )


def _serve_cold(*, decision: Decision, at_ms: int) -> Outcome:
    try:
        token = coordination.lock_acquire(keys.LOCK_KEY, ttl_seconds=settings.STATS_LOCK_SECONDS)
    except coordination.CoordinationUnavailable:
        return _serve_local_copy(decision=decision, at_ms=at_ms)
    try:
        if token is not None:
            return _compute_as_holder(decision=decision, token=token, at_ms=at_ms)
        return _wait_for_holder(decision=decision, at_ms=at_ms)
    except coordination.CoordinationUnavailable:
        return _serve_local_copy(decision=decision, at_ms=at_ms)


def _compute_as_holder(*, decision: Decision, token: str, at_ms: int) -> Outcome:
    try:
        # Double check: a holder that finished between our read and our lock wrote it.
        current = _read_entry(keys.ENTRY_KEY)
        if current is not None:
            process_copy.offer(current)
            return Outcome(
                decision=decision, snapshot=current, cache=HIT if current.is_fresh(at_ms) else STALE
            )
        snapshot = stats_compute()
        stats_entry_store(snapshot=snapshot)
        return Outcome(decision=decision, snapshot=snapshot, cache=MISS)
    except DatabaseError as exc:
        logger.warning("stats compute failed error=%s", exc)
        return _serve_lkg(decision=decision, at_ms=at_ms)
    finally:
        _release(token)


def _wait_for_holder(*, decision: Decision, at_ms: int) -> Outcome:
    metrics.lock_waited()
    deadline = time.monotonic() + settings.STATS_COLD_WAIT_MS / 1000
    while time.monotonic() < deadline:
        time.sleep(COLD_POLL_SECONDS)
        current = _read_entry(keys.ENTRY_KEY)
        if current is not None:
            process_copy.offer(current)
            return Outcome(
                decision=decision, snapshot=current, cache=HIT if current.is_fresh(at_ms) else STALE
            )
    return _serve_lkg(decision=decision, at_ms=at_ms)


def _serve_lkg(*, decision: Decision, at_ms: int) -> Outcome:
    try:
        lkg = _read_entry(keys.LKG_KEY)
    except coordination.CoordinationUnavailable:
        lkg = process_copy.snapshot
    if lkg is not None and lkg.is_within_lkg_age(at_ms):
        return Outcome(decision=decision, snapshot=lkg, cache=LKG)
    return Outcome(decision=decision)


def _classify(snapshot: Snapshot | None, at_ms: int) -> str:
    if snapshot is None:
        return ""
    if snapshot.is_fresh(at_ms):
        return HIT
    if at_ms < snapshot.expires_at_ms:
        return STALE
    if snapshot.is_within_lkg_age(at_ms):
        return LKG
    return ""


def _serve_in_process(*, subject: str, at_ms: int) -> Outcome:
    if settings.RATE_LIMIT_ENABLED:
        # Same policy and key as every other limiter path; fails open (logged, counted) there.
        decision = rate_limit_check(scope=SCOPE, subject=subject, now_ms=at_ms)
    else:
        decision = decision_from_script_result(policy_for(SCOPE), [1, 0, 0, 0])
    if not decision.is_allowed:
        return Outcome(decision=decision)
    return _serve_local_copy(decision=decision, at_ms=at_ms)


def _serve_local_copy(*, decision: Decision, at_ms: int) -> Outcome:
    """The process copy if fresh; else one thread recomputes under the process lock while
    the others serve the copy they have (stale/LKG budget) or wait for the computation."""
    held = process_copy.snapshot
    cache = _classify(held, at_ms)
    if cache == HIT:
        return Outcome(decision=decision, snapshot=held, cache=HIT)
    if time.monotonic() < process_copy.retry_after:
        return _local_fallback(decision=decision, held=held, cache=cache)
    if not process_copy.compute_lock.acquire(blocking=not cache, timeout=-1 if cache else 10):
        return _local_fallback(decision=decision, held=held, cache=cache)
    try:
        newer = process_copy.snapshot
        if newer is not held and _classify(newer, at_ms) == HIT:
            return Outcome(decision=decision, snapshot=newer, cache=HIT)
        snapshot = stats_compute()
        process_copy.offer(snapshot)
        if not coordination.is_configured():
            stats_entry_store(snapshot=snapshot)
        return Outcome(decision=decision, snapshot=snapshot, cache=MISS)
    except DatabaseError as exc:
        process_copy.retry_after = time.monotonic() + LOCAL_RETRY_SECONDS
        logger.warning("stats compute failed (in process) error=%s", exc)
        return _local_fallback(decision=decision, held=held, cache=cache)
    finally:
        process_copy.compute_lock.release()


def _local_fallback(*, decision: Decision, held: Snapshot | None, cache: str) -> Outcome:
    if held is None or not cache:
        return Outcome(decision=decision)
    return Outcome(decision=decision, snapshot=held, cache=cache)
