"""Serving GET /api/stats from the stats entry (see stats.services.entry for compute/store).

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

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError

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
from stats.services.entry import (
    Snapshot,
    now_ms,
    process_copy,
    release_compute_lock,
    stats_compute,
    stats_entry_store,
)

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


@dataclass(frozen=True)
class Outcome:
    """What the view sends: a snapshot with its X-Cache value, or nothing (429/503)."""

    decision: Decision
    snapshot: Snapshot | None = None
    cache: str = ""


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
            lambda _r: coordination.script(READ_LUA)(
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
    if enqueue("stats.jobs.refresh_stats_snapshot"):
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
        release_compute_lock(token)


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
