"""Outbox capture and delivery (see syncqueue's issue for the full design)."""

from __future__ import annotations

from typing import Any


def outbox_capture_user_change(*, user: Any, changed_fields: list[str], is_creation: bool) -> None:
    """Record a tracked-attribute change in the outbox, in the caller's transaction."""
