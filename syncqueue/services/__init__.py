"""Outbox capture and delivery: the public entry points of syncqueue.

Capture listens to `accounts.signals` (receivers connected in `SyncqueueConfig.ready()`):
`outbox_capture_user_change` for one saved user, `outbox_capture_users_bulk` for a bulk
update, both in the sender's transaction. Jobs, commands and the admin use the rest.
"""

from __future__ import annotations

from syncqueue.services.capture import (
    outbox_backlog_check,
    outbox_capture_user_change,
    outbox_capture_users_bulk,
    outbox_write,
    outbox_write_many,
)
from syncqueue.services.claim import (
    ClaimBusy,
    outbox_claim,
    outbox_reclaim_expired,
    outbox_requeue,
)
from syncqueue.services.maintenance import outbox_alerts_check, outbox_archive
from syncqueue.services.relay import RunReport, outbox_push, outbox_send_batch, outbox_tick
from syncqueue.services.settle import backoff_seconds

__all__ = [
    "ClaimBusy",
    "RunReport",
    "backoff_seconds",
    "outbox_alerts_check",
    "outbox_archive",
    "outbox_backlog_check",
    "outbox_capture_user_change",
    "outbox_capture_users_bulk",
    "outbox_claim",
    "outbox_push",
    "outbox_reclaim_expired",
    "outbox_requeue",
    "outbox_send_batch",
    "outbox_tick",
    "outbox_write",
    "outbox_write_many",
]
