"""Provider call budgets in the coordination Redis, reserved atomically before each call.

Per fixed UTC window (`SYNC_WINDOW_SECONDS`) and kind (`batch`, `single`) one counter,
`sync:v1:budget:{kind}:{window}`, counts reserved calls; one Lua script checks the pause
key, the limit and increments in one step, so concurrent workers can never overshoot.
A provider 429 sets `sync:v1:pause:{kind}` to the epoch-ms it may be called again.

Time comes from the caller (`now`), so tests and the benchmark drive windows with an
injected clock. Redis unreachable → `CoordinationUnavailable` propagates: budgets fail closed
(the relay sends nothing). Without `REDIS_URL` (embedded mode) an in-process store stands in.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings

from core import redis as coordination
from syncqueue import keys

logger = logging.getLogger(__name__)

KINDS = ("batch", "single")

# Returns {granted (0/1), remaining, paused_until_ms (0 when not paused)}.
_RESERVE_LUA = """
local paused_until = tonumber(redis.call('GET', KEYS[2]) or '0')
local now_ms = tonumber(ARGV[3])
if paused_until > now_ms then
    return {0, -1, paused_until}
end
local limit = tonumber(ARGV[1])
local amount = tonumber(ARGV[2])
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used + amount > limit then
    return {0, limit - used, 0}
end
used = redis.call('INCRBY', KEYS[1], amount)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {1, limit - used, 0}
"""

# Gives back an unused reservation (never below zero).
_REFUND_LUA = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local amount = math.min(used, tonumber(ARGV[1]))
if amount > 0 then
    return redis.call('DECRBY', KEYS[1], amount)
end
return used
"""

# Moves the pause end later, never earlier.
_PAUSE_LUA = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local until_ms = tonumber(ARGV[1])
if until_ms > current then
    redis.call('SET', KEYS[1], until_ms, 'PX', ARGV[2])
    return until_ms
end
return current
"""


@dataclass(frozen=True)
class Reservation:
    kind: str
    window: int
    is_granted: bool
    remaining: int
    retry_at: datetime | None  # when asking again makes sense (refused only)


def limit_for(kind: str) -> int:
    if kind == "batch":
        return settings.SYNC_BATCH_CALLS_PER_WINDOW
    return settings.SYNC_SINGLE_CALLS_PER_WINDOW


def window_of(now: datetime) -> int:
    return int(now.timestamp() // settings.SYNC_WINDOW_SECONDS)


def window_start(window: int) -> datetime:
    return datetime.fromtimestamp(window * settings.SYNC_WINDOW_SECONDS, tz=UTC)


def window_resets_in_seconds(now: datetime) -> float:
    return (window_start(window_of(now) + 1) - now).total_seconds()


def guard_seconds() -> float:
    """No reservation this close to a window's end: a call reserved in window n must not
    arrive in window n + 1 and be counted there by the provider (2 s of 3,600 costs nothing)."""
    return min(2.0, settings.SYNC_WINDOW_SECONDS / 50)


def _ttl_ms() -> int:
    # At least 5 minutes, so short test windows' counters can still be read back.
    return max(300, keys.BUDGET_TTL_WINDOWS * settings.SYNC_WINDOW_SECONDS) * 1000


def budget_reserve(*, kind: str, now: datetime, amount: int = 1) -> Reservation:
    """Reserve `amount` calls of `kind` in `now`'s window; atomic across processes.

    Raises CoordinationUnavailable when the coordination Redis is down (fail closed).
    """
    window = window_of(now)
    next_window_at = window_start(window + 1)
    if (next_window_at - now).total_seconds() < guard_seconds():
        return Reservation(kind, window, False, 0, next_window_at)
    limit = limit_for(kind)
    budget_key = keys.budget_key(kind=kind, window=window)
    pause_key = keys.pause_key(kind=kind)
    now_ms = int(now.timestamp() * 1000)
    if coordination.is_configured():
        granted, remaining, paused_until = coordination.call(
            lambda _r: coordination.script(_RESERVE_LUA)(
                keys=[budget_key, pause_key], args=[limit, amount, now_ms, _ttl_ms()]
            )
        )
    else:
        granted, remaining, paused_until = _reserve_local(
            budget_key, pause_key, limit=limit, amount=amount, now_ms=now_ms
        )
    retry_at = None
    if not granted:
        if int(paused_until):
            retry_at = datetime.fromtimestamp(int(paused_until) / 1000, tz=UTC)
        else:
            retry_at = next_window_at
    return Reservation(kind, window, bool(granted), int(remaining), retry_at)


def budget_refund(*, reservation: Reservation, amount: int = 1) -> None:
    """Give back a reservation that made no call (nothing to send after all)."""
    budget_key = keys.budget_key(kind=reservation.kind, window=reservation.window)
    try:
        if coordination.is_configured():
            coordination.call(
                lambda _r: coordination.script(_REFUND_LUA)(keys=[budget_key], args=[amount])
            )
        else:
            coordination.local_store.incr(budget_key, -amount)
    except coordination.CoordinationUnavailable:
        logger.warning(
            "sync budget refund lost kind=%s window=%s", reservation.kind, reservation.window
        )


def budget_pause(*, kind: str, now: datetime, retry_after_seconds: float) -> datetime:
    """Pause `kind` until now + Retry-After (a provider 429); returns the pause end."""
    until = now + timedelta(seconds=max(1.0, retry_after_seconds))
    until_ms = int(until.timestamp() * 1000)
    ttl_ms = max(1000, math.ceil(max(1.0, retry_after_seconds) * 1000))
    key = keys.pause_key(kind=kind)
    if coordination.is_configured():
        coordination.call(
            lambda _r: coordination.script(_PAUSE_LUA)(keys=[key], args=[until_ms, ttl_ms])
        )
    else:
        with coordination.local_store.lock:
            current = int(coordination.local_store.get(key) or 0)
            if until_ms > current:
                coordination.local_store.set(key, until_ms, ttl_seconds=ttl_ms / 1000)
    logger.warning("sync budget paused kind=%s until=%s", kind, until.isoformat())
    return until


def budget_used(*, kind: str, window: int) -> int:
    """Calls reserved in `window` (raises CoordinationUnavailable)."""
    key = keys.budget_key(kind=kind, window=window)
    if coordination.is_configured():
        raw = coordination.call(lambda r: r.get(key))
    else:
        raw = coordination.local_store.get(key)
    return int(raw or 0)


def budget_remaining(*, now: datetime) -> dict[str, int]:
    window = window_of(now)
    return {kind: max(0, limit_for(kind) - budget_used(kind=kind, window=window)) for kind in KINDS}


def _reserve_local(
    budget_key: str, pause_key: str, *, limit: int, amount: int, now_ms: int
) -> tuple[int, int, int]:
    store = coordination.local_store
    with store.lock:
        paused_until = int(store.get(pause_key) or 0)
        if paused_until > now_ms:
            return 0, -1, paused_until
        used = int(store.get(budget_key) or 0)
        if used + amount > limit:
            return 0, limit - used, 0
        used = store.incr(budget_key, amount, ttl_seconds=_ttl_ms() / 1000)
        return 1, limit - used, 0
