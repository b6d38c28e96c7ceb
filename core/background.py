"""Retry in the background, in this process, until a dependency is back.

For state that lives only in this process's memory (e.g. a cache generation bump that failed
while the coordination Redis was paused): the broker may be that same Redis and no later write
may come, so neither a retry job nor "the next call replays it" is enough on its own.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


class BackgroundRetry:
    """Calls `replay()` from one daemon thread every `interval_seconds` while `is_pending()`
    is true; the thread ends when nothing is pending and `kick()` starts it again. A forked
    child (gunicorn, prefork) starts its own thread on its first kick."""

    def __init__(
        self,
        *,
        name: str,
        replay: Callable[[], object],
        is_pending: Callable[[], bool],
        interval_seconds: float,
    ) -> None:
        self.name = name
        self.replay = replay
        self.is_pending = is_pending
        self.interval_seconds = interval_seconds
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._wake = threading.Event()

    def kick(self) -> None:
        """Make sure the retry thread runs (cheap when it already does)."""
        with self._lock:
            if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while self.is_pending():
            self._wake.wait(self.interval_seconds)
            try:
                self.replay()
            except Exception:
                logger.exception("background retry failed name=%s", self.name)
        logger.info("background retry done name=%s", self.name)
        with self._lock:
            self._thread = None
