"""The project's one rate limiter: GCRA in one atomic Redis script (one round trip).

A policy "N/period" admits a burst of N, then one request every period/N: exactly what
nginx does with `rate=Nr/period burst=N-1 nodelay`, so both layers agree.

GCRA keeps one number per subject, the theoretical arrival time (TAT). A request at `now`
is admitted iff `max(TAT, now) + T - now <= period` (T = period / N); admitting it moves
TAT forward by T. The key expires when the bucket would be full again, so idle subjects
cost nothing.

Redis down: public scopes fall back to an in-process limiter of the same policy (logged and
counted); scopes in `RATE_LIMIT_FAIL_CLOSED_SCOPES` refuse with 503 instead.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings

from core import metrics
from core import redis as coordination

logger = logging.getLogger(__name__)

_UNITS_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_POLICY_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\w*\s*$")


@dataclass(frozen=True)
class Policy:
    scope: str
    limit: int
    period_seconds: int

    @property
    def emission_interval_ms(self) -> float:
        return self.period_seconds * 1000 / self.limit

    @property
    def period_ms(self) -> int:
        return self.period_seconds * 1000


@dataclass(frozen=True)
class Decision:
    policy: Policy
    is_allowed: bool
    remaining: int
    retry_after_seconds: int  # 0 when allowed
    reset_seconds: int  # until the bucket is full again
    is_fallback: bool = False  # decided in process because Redis was unreachable

    def headers(self) -> dict[str, str]:
        """X-RateLimit-* plus the IETF RateLimit-Policy / RateLimit fields."""
        scope = self.policy.scope
        values = {
            "X-RateLimit-Limit": str(self.policy.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_seconds),
            "RateLimit-Policy": f'"{scope}";q={self.policy.limit};w={self.policy.period_seconds}',
            "RateLimit": f'"{scope}";r={self.remaining};t={self.reset_seconds}',
        }
        if not self.is_allowed:
            values["Retry-After"] = str(max(1, self.retry_after_seconds))
        return values


class LimiterUnavailable(Exception):
    """Redis is unreachable and this scope fails closed."""


def parse_policy(scope: str, text: str) -> Policy:
    match = _POLICY_RE.match(text)
    if not match:
        raise ValueError(f"bad rate limit {text!r} for scope {scope!r}; expected e.g. '60/m'")
    limit, multiplier, unit = int(match.group(1)), int(match.group(2) or 1), match.group(3)
    if limit < 1:
        raise ValueError(f"rate limit for {scope!r} must admit at least one request")
    if multiplier < 1:
        raise ValueError(f"rate limit period for {scope!r} must be at least one unit")
    return Policy(scope=scope, limit=limit, period_seconds=multiplier * _UNITS_SECONDS[unit])


@lru_cache(maxsize=64)
def _policy_cached(scope: str, text: str) -> Policy:
    return parse_policy(scope, text)


def policy_for(scope: str) -> Policy:
    rates = settings.RATE_LIMITS
    return _policy_cached(scope, rates.get(scope, rates["default"]))


def limiter_key(scope: str, subject: str) -> str:
    return f"core:v1:rl:{scope}:{subject}"


# KEYS[1] = bucket key; ARGV = emission interval ms, period ms, now ms (or "" for server TIME).
# Returns {allowed 0/1, remaining, retry_after_ms, reset_ms}. Kept as a function body so other
# scripts (GET /api/stats) can embed the same decision and still make one round trip.
GCRA_LUA_FUNCTION = """
local function gcra(key, interval, period, now_arg)
    local now
    if now_arg == nil or now_arg == '' then
        local t = redis.call('TIME')
        now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    else
        now = tonumber(now_arg)
    end
    local tat = tonumber(redis.call('GET', key)) or now
    if tat < now then tat = now end
    local new_tat = tat + interval
    local allow_at = new_tat - period
    if allow_at > now then
        local retry = allow_at - now
        return {0, 0, math.ceil(retry), math.ceil(tat - now)}
    end
    -- Full double precision: rounding TAT to whole ms drifted by up to 0.5 ms per admitted
    -- request when the interval is fractional (1000/3 ms), admitting more than the policy.
    redis.call('SET', key, string.format('%.17g', new_tat), 'PX', math.ceil(new_tat - now))
    local remaining = math.floor((period - (new_tat - now)) / interval)
    return {1, remaining, 0, math.ceil(new_tat - now)}
end
"""

GCRA_LUA = GCRA_LUA_FUNCTION + "return gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3])"


def _decision_from(policy: Policy, raw: Sequence[Any], *, is_fallback: bool = False) -> Decision:
    allowed, remaining, retry_ms, reset_ms = (int(x) for x in raw)
    return Decision(
        policy=policy,
        is_allowed=bool(allowed),
        remaining=max(0, remaining),
        retry_after_seconds=math.ceil(retry_ms / 1000),
        reset_seconds=math.ceil(reset_ms / 1000),
        is_fallback=is_fallback,
    )


def decision_from_script_result(policy: Policy, raw: Sequence[Any]) -> Decision:
    """For scripts that embed GCRA_LUA_FUNCTION and return its four numbers."""
    return _decision_from(policy, raw)


class LocalLimiter:
    """The same GCRA in process: embedded mode, and the fail-open fallback."""

    def __init__(self) -> None:
        self._tats: dict[str, float] = {}
        self._lock = threading.Lock()
        self._last_sweep = 0.0

    def decide(self, key: str, policy: Policy, *, now_ms: float | None = None) -> list[int]:
        now = time.time() * 1000 if now_ms is None else now_ms
        interval, period = policy.emission_interval_ms, policy.period_ms
        with self._lock:
            self._sweep(now)
            tat = max(self._tats.get(key, now), now)
            new_tat = tat + interval
            allow_at = new_tat - period
            if allow_at > now:
                return [0, 0, math.ceil(allow_at - now), math.ceil(tat - now)]
            self._tats[key] = new_tat
            remaining = math.floor((period - (new_tat - now)) / interval)
            return [1, remaining, 0, math.ceil(new_tat - now)]

    def _sweep(self, now: float) -> None:
        if now - self._last_sweep < 10_000 or len(self._tats) < 10_000:
            return
        self._last_sweep = now
        self._tats = {k: v for k, v in self._tats.items() if v > now}

    def clear(self) -> None:
        with self._lock:
            self._tats.clear()


local_limiter = LocalLimiter()


def rate_limit_check(*, scope: str, subject: str, now_ms: float | None = None) -> Decision:
    """Decide one request for (scope, subject). Raises LimiterUnavailable for fail-closed scopes."""
    policy = policy_for(scope)
    key = limiter_key(scope, subject)
    now_arg = "" if now_ms is None else str(int(now_ms))
    if not coordination.is_configured():
        return _decision_from(policy, local_limiter.decide(key, policy, now_ms=now_ms))
    try:
        gcra = coordination.script(GCRA_LUA)
        raw = coordination.call(
            lambda _r: gcra(
                keys=[key], args=[policy.emission_interval_ms, policy.period_ms, now_arg]
            )
        )
        return _decision_from(policy, raw)
    except coordination.CoordinationUnavailable:
        if scope in settings.RATE_LIMIT_FAIL_CLOSED_SCOPES:
            raise LimiterUnavailable(scope) from None
        logger.warning("limiter failing open scope=%s subject=%s", scope, subject)
        metrics.limiter_fail_open(scope=scope)
        return _decision_from(
            policy, local_limiter.decide(key, policy, now_ms=now_ms), is_fallback=True
        )
