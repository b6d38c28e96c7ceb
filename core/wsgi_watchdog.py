"""A per-worker request timeout for WSGI servers that have none (granian).

gunicorn's arbiter kills a sync worker whose request runs past `timeout`; granian has no such
limit, so a request stuck in C code or a loop would hold its worker forever. This wrapper
records when each request started; a daemon thread per worker process checks once a second
and, past WEB_TIMEOUT_SECONDS, logs the request and ends the process (exit status 70), which
the server replaces (granian --respawn-failed-workers). With one blocking thread per worker,
as deploy/web runs granian, only the stuck request is lost: gunicorn sync's behaviour.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

logger = logging.getLogger(__name__)

CHECK_INTERVAL_SECONDS = 1.0
EXIT_STATUS = 70  # EX_SOFTWARE


class RequestWatchdog:
    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        *,
        timeout_seconds: float,
        on_timeout: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.app = app
        self.timeout_seconds = timeout_seconds
        self.on_timeout = on_timeout or _end_process
        # thread id -> (started, method, path) of the request that thread is serving
        self.running: dict[int, tuple[float, str, str]] = {}
        self._thread_pid: int | None = None
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        self._ensure_thread()
        ident = threading.get_ident()
        self.running[ident] = (
            time.monotonic(),
            str(environ.get("REQUEST_METHOD", "")),
            str(environ.get("PATH_INFO", "")),
        )
        try:
            return self.app(environ, start_response)
        finally:
            self.running.pop(ident, None)

    def overdue(self, *, now: float | None = None) -> list[dict[str, Any]]:
        """Requests running longer than the timeout at `now` (monotonic seconds)."""
        moment = time.monotonic() if now is None else now
        return [
            {"method": method, "path": path, "seconds": round(moment - started, 1)}
            for started, method, path in list(self.running.values())
            if moment - started > self.timeout_seconds
        ]

    def check(self, *, now: float | None = None) -> bool:
        stuck = self.overdue(now=now)
        if stuck:
            self.on_timeout(stuck[0])
        return bool(stuck)

    def _ensure_thread(self) -> None:
        pid = os.getpid()
        if self._thread_pid == pid:
            return
        with self._lock:
            if self._thread_pid == pid:
                return
            self._thread_pid = pid
            threading.Thread(target=self._loop, name="request-watchdog", daemon=True).start()

    def _loop(self) -> None:
        while True:
            time.sleep(CHECK_INTERVAL_SECONDS)
            self.check()


def _end_process(request: dict[str, Any]) -> None:
    logger.error(
        "request timeout: ending worker pid=%s method=%s path=%s seconds=%s",
        os.getpid(),
        request["method"],
        request["path"],
        request["seconds"],
    )
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(EXIT_STATUS)
