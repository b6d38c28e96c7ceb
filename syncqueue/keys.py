"""Coordination-Redis keys of the sync relay (ARCHITECTURE.md: `sync:v1:…`)."""

from __future__ import annotations

CLAIM_LOCK_KEY = "sync:v1:claim"  # serializes claims (a short critical section)
KICK_KEY = "sync:v1:kick"  # set while a push job is queued or running (dedupes enqueues)
# After a window ends its counter is kept one more window for sync_status and the tests.
BUDGET_TTL_WINDOWS = 2


def budget_key(*, kind: str, window: int) -> str:
    return f"sync:v1:budget:{kind}:{window}"


def pause_key(*, kind: str) -> str:
    return f"sync:v1:pause:{kind}"


def exhausted_streak_key(*, kind: str) -> str:
    return f"sync:v1:exhausted:{kind}"
