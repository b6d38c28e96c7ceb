"""What JWT authentication needs per request, in the coordination Redis: one script call
instead of a user row from the database plus separate limiter and replica-pin calls.

Per user, `accounts:v1:auth:{id}` holds what decides access (token_version, role, is_active,
is_superuser); `accounts:v1:famrev:{family}` marks a revoked login. One script checks the
token against them and, in the same round trip, takes the view's rate-limit decision
(core.limiter's GCRA, same policy and key) and reads the replica pin. The view then gets a
`User` whose other columns load in one query on first use (`User.refresh_from_db`), so a
view that needs only the id (the task list) never reads the users table.

Revocation stays immediate: every change of those fields (User.save, tokens_revoke_all) moves
the user's generation and deletes the state, at once and again after commit
(`auth_state_changed`), before the response that made the change is sent; the next request
misses and reads the database. A fill writes only if the generation it read before loading is
unchanged, so a slow request that read the old row never writes it back. A revoked family is
marked at once (`family_revoked_mark`).

Faults: Redis not configured or unreachable → the caller reads the database (correct, slower).
A forget that fails while Redis is unreachable leaves a state that expires within
AUTH_STATE_TTL_SECONDS; meanwhile every process is on the database path (the breaker).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from accounts import keys
from core import redis as coordination
from core.limiter import GCRA_LUA_FUNCTION, Decision, decision_from_script_result, policy_for

logger = logging.getLogger(__name__)

# Outcome codes of AUTH_LUA.
MISS, ALLOWED, INACTIVE, REVOKED = 0, 1, 2, 3

# KEYS: state hash, generation, family mark, limiter bucket, replica pin (unused ones: any key).
# ARGV: token_version of the token, check family 1/0, limit 1/0, interval ms, period ms,
#       now ms ('' = server time), check pin 1/0.
# Returns {MISS, generation} | {INACTIVE} | {REVOKED} |
#         {ALLOWED, role, is_superuser, pinned, allowed, remaining, retry_ms, reset_ms}.
AUTH_LUA = (
    GCRA_LUA_FUNCTION
    + """
local state = redis.call('HMGET', KEYS[1], 'tv', 'role', 'active', 'su')
if not state[1] then
    return {0, redis.call('GET', KEYS[2]) or ''}
end
if state[3] ~= '1' then
    return {2}
end
if state[1] ~= ARGV[1] then
    return {3}
end
if ARGV[2] == '1' and redis.call('EXISTS', KEYS[3]) == 1 then
    return {3}
end
local d = {1, 0, 0, 0}
if ARGV[3] == '1' then
    d = gcra(KEYS[4], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6])
end
local pinned = 0
if ARGV[7] == '1' and redis.call('EXISTS', KEYS[5]) == 1 then
    pinned = 1
end
return {1, state[2], state[4], pinned, d[1], d[2], d[3], d[4]}
"""
)

# KEYS: state hash, generation. ARGV: generation read before loading, ttl ms, then the fields.
FILL_LUA = """
if (redis.call('GET', KEYS[2]) or '') ~= ARGV[1] then
    return 0
end
redis.call('HSET', KEYS[1], 'tv', ARGV[3], 'role', ARGV[4], 'active', ARGV[5], 'su', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

# KEYS: state hash, generation. ARGV: generation ttl ms.
FORGET_LUA = """
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])
"""


@dataclass(frozen=True)
class AuthCheck:
    """The script's answer for one token."""

    outcome: int
    generation: str = ""
    role: str = ""
    is_superuser: bool = False
    is_pinned: bool = False
    decision: Decision | None = None


def auth_state_check(
    *,
    user_id: int,
    token_version: Any,
    family: str | None,
    limit_scope: str | None,
    pin_key: str | None,
) -> AuthCheck:
    """Check one token against the cached state; with `limit_scope`, also decide that scope's
    limit for `user:{user_id}`; with `pin_key`, read the replica pin. One round trip.

    Raises CoordinationUnavailable when Redis is not configured or unreachable."""
    policy = policy_for(limit_scope) if limit_scope else None
    state_key = keys.auth_state_key(user_id)
    from core.limiter import limiter_key

    raw = coordination.call(
        lambda _r: coordination.script(AUTH_LUA)(
            keys=[
                state_key,
                keys.auth_generation_key(user_id),
                keys.family_revoked_key(family) if family else state_key,
                limiter_key(limit_scope, f"user:{user_id}") if limit_scope else state_key,
                pin_key or state_key,
            ],
            args=[
                "" if token_version is None else str(token_version),
                "1" if family else "0",
                "1" if policy else "0",
                policy.emission_interval_ms if policy else 0,
                policy.period_ms if policy else 0,
                "",
                "1" if pin_key else "0",
            ],
        )
    )
    outcome = int(raw[0])
    if outcome == MISS:
        generation = raw[1]
        return AuthCheck(
            outcome=MISS,
            generation=generation.decode() if isinstance(generation, bytes) else str(generation),
        )
    if outcome != ALLOWED:
        return AuthCheck(outcome=outcome)
    return AuthCheck(
        outcome=ALLOWED,
        role=raw[1].decode(),
        is_superuser=raw[2] == b"1",
        is_pinned=bool(int(raw[3])),
        decision=decision_from_script_result(policy, raw[4:8]) if policy else None,
    )


def auth_state_fill(*, user: Any, generation: str) -> None:
    """Store the user's access state if nothing changed since `generation` was read (a
    concurrent change wins). Best effort: a failure only means the next request misses."""
    with contextlib.suppress(coordination.CoordinationUnavailable):
        coordination.call(
            lambda _r: coordination.script(FILL_LUA)(
                keys=[keys.auth_state_key(user.pk), keys.auth_generation_key(user.pk)],
                args=[
                    generation,
                    keys.AUTH_STATE_TTL_SECONDS * 1000,
                    str(user.token_version),
                    user.role,
                    "1" if user.is_active else "0",
                    "1" if user.is_superuser else "0",
                ],
            )
        )


def auth_state_forget(*, user_id: int) -> None:
    """After a change of token_version, role, is_active or is_superuser (committed): the next
    request reads the database, and no fill that read the old row can land."""
    if not coordination.is_configured():
        return
    try:
        coordination.call(
            lambda _r: coordination.script(FORGET_LUA)(
                keys=[keys.auth_state_key(user_id), keys.auth_generation_key(user_id)],
                args=[keys.AUTH_GENERATION_TTL_SECONDS * 1000],
            )
        )
    except coordination.CoordinationUnavailable:
        # Every process reads the database while Redis is unreachable; the stale state, if
        # Redis comes back, expires within AUTH_STATE_TTL_SECONDS.
        logger.error("auth state not forgotten: coordination down user_id=%s", user_id)


def auth_state_changed(*, user_id: int, using: str = "default") -> None:
    """Call where token_version, role, is_active or is_superuser change: forget the state now
    (this transaction's own later requests see the change; a test transaction never commits)
    and again after commit (a fill that read the old row in between can't land then)."""
    auth_state_forget(user_id=user_id)
    transaction.on_commit(lambda: auth_state_forget(user_id=user_id), using=using)


def family_revoked_mark(*, family_id: str) -> None:
    """A token family was revoked: refuse its access tokens from Redis. Marked at once (a
    revocation is never undone; token_family_revoke runs outside any transaction)."""
    if not coordination.is_configured():
        return
    try:
        coordination.value_set(
            keys.family_revoked_key(family_id), b"1", ttl_seconds=settings.JWT_REFRESH_TTL_SECONDS
        )
    except coordination.CoordinationUnavailable:
        logger.error("revoked family not marked: coordination down family=%s", family_id)


def auth_principal(*, user_id: int, token_version: int, check: AuthCheck) -> Any:
    """The request's user from the cached state: a real `User` (so ORM filters and permission
    checks work) whose other columns are deferred and load together on first use."""
    from accounts.models import User

    known = {
        "id": user_id,
        "role": check.role,
        "is_active": True,
        "is_staff": check.role == User.Role.ADMIN,  # User.save keeps them equal
        "is_superuser": check.is_superuser,
        "token_version": token_version,
    }
    fields = [f.attname for f in User._meta.concrete_fields if f.attname in known]
    user = User.from_db("default", fields, [known[name] for name in fields])
    return user
