"""Coordination Redis keys of accounts (never evicted: revocation depends on them)."""

from __future__ import annotations

# How long a user's cached access state lives without a change: bounds how long a revocation
# made while the coordination Redis was unreachable can be missed once it is back. A miss
# costs one user-row read, so a user active every second pays it on 1 request in 60.
AUTH_STATE_TTL_SECONDS = 60
# Outlives any request that could still be filling the state it read before a change.
AUTH_GENERATION_TTL_SECONDS = 86_400


def auth_state_key(user_id: int) -> str:
    return f"accounts:v1:auth:{user_id}"


def auth_generation_key(user_id: int) -> str:
    return f"accounts:v1:authgen:{user_id}"


def family_revoked_key(family_id: str) -> str:
    return f"accounts:v1:famrev:{family_id}"
