"""The one wait helper for work another thread or process does (a live worker, a replica, a
restarted broker). It waits for completion; it never decides correctness by time."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(
    condition: Callable[[], object],
    *,
    timeout_seconds: float = 30.0,
    interval_seconds: float = 0.05,
) -> bool:
    """Poll `condition` until it is true (returns True) or `timeout_seconds` pass (returns
    whether a last look finds it true). Use as `assert wait_until(...), "what was awaited"`."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval_seconds)
    return bool(condition())
