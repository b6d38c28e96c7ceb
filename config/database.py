"""Database limits for the request path.

A slow or stalled MariaDB must fail a web request with 503 (core.errors) in bounded time, far
below the web server's worker timeout (WEB_TIMEOUT_SECONDS, 30 s), and must stop holding the
web workers that Redis-only requests and /api/health need. config/wsgi.py installs three layers
in web processes; config/mariadb (the engine of every MariaDB alias) applies them:

1. Client timeouts (`request_timeouts_apply`): connect 1 s, read and write 2 s per socket
   operation (libmariadb applies each once, without retries), and MariaDB's own
   `max_statement_time` 4 s.
2. A deadline per request: DB_REQUEST_BUDGET_SECONDS (5 s) after `request_started`. A statement
   waits for its answer until the deadline at most (the backend polls the socket, to the
   millisecond, where the read timeout counts whole seconds and restarts with every read), and
   none is sent once the deadline has passed. An answer that does not come in time closes the
   connection: it cannot be reused with a result still pending.
3. A gate per process and alias. A kept connection is checked at a request's first query with
   `DO 1`, which a healthy server answers in milliseconds. No answer within
   DB_PING_TIMEOUT_SECONDS (0.5 s), or a failed connect, opens the gate: from then on the
   request path fails at once (503) without touching the network, while a thread of this
   process probes every GATE_PROBE_INTERVAL_SECONDS and closes the gate as soon as a probe is
   answered within the ping limit again.

So when the database turns slow, the requests of a worker pay at most one ping limit (or one
connect timeout) between them, plus whatever statement was already waiting (the deadline), and
the worker then answers everything else at once. With the defaults, one request's worst case,
every round trip just under its limit, is the 5 s deadline for its statements plus a connect
(1 s + 2 s per handshake read) and the COMMIT, ROLLBACK and autocommit round trips (2 s each):
about 20 s, still under the 30 s worker timeout.

Celery jobs, migrations and seeding keep none of this (a bulk statement there may rightly run
longer; their own time limits bound them), and neither do the probes of monitoring.health and of
the gate, which carry deadlines of their own: all of it applies only while a request deadline
is set.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import connections

logger = logging.getLogger(__name__)

MARIADB_ENGINES = ("config.mariadb", "django.db.backends.mysql")
# While the gate is open, each process probes this often (one fresh connection per probe).
GATE_PROBE_INTERVAL_SECONDS = 0.5


def request_timeouts_apply(
    *,
    databases: dict[str, dict[str, Any]] | None = None,
    connect_seconds: int | None = None,
    read_seconds: int | None = None,
    write_seconds: int | None = None,
    statement_seconds: float | None = None,
) -> None:
    """Give every MariaDB alias the request-path limits (settings' DB_REQUEST_CONNECT_TIMEOUT_
    SECONDS and DB_*_TIMEOUT_SECONDS by default). Call before the first request; connections
    opened afterwards use them."""
    databases = settings.DATABASES if databases is None else databases
    if connect_seconds is None:
        connect_seconds = settings.DB_REQUEST_CONNECT_TIMEOUT_SECONDS
    read_seconds = settings.DB_READ_TIMEOUT_SECONDS if read_seconds is None else read_seconds
    write_seconds = settings.DB_WRITE_TIMEOUT_SECONDS if write_seconds is None else write_seconds
    if statement_seconds is None:
        statement_seconds = settings.DB_STATEMENT_TIMEOUT_SECONDS
    for config in databases.values():
        if config.get("ENGINE") not in MARIADB_ENGINES:
            continue
        options = config.setdefault("OPTIONS", {})
        if connect_seconds:
            options["connect_timeout"] = connect_seconds
        for name, seconds in (("read_timeout", read_seconds), ("write_timeout", write_seconds)):
            if seconds:
                options[name] = seconds
            else:
                options.pop(name, None)
        base = options.get("init_command", "")
        base = base.split(", max_statement_time=")[0]
        if statement_seconds:
            limit = f"max_statement_time={statement_seconds:g}"
            base = f"{base}, {limit}" if base else f"SET {limit}"
        options["init_command"] = base


# --------------------------------------------------------------------------- request deadline
_deadline: ContextVar[float | None] = ContextVar("db_request_deadline", default=None)


def request_deadline() -> float | None:
    """The monotonic time by which the current web request's database work must be done; None
    outside a request (jobs, probes, commands) or with DB_REQUEST_BUDGET_SECONDS = 0."""
    return _deadline.get()


@contextmanager
def request_deadline_scope(seconds: float) -> Iterator[None]:
    """Run the block under a request deadline `seconds` from now (what a request gets)."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def _start_budget(**_: Any) -> None:
    seconds = settings.DB_REQUEST_BUDGET_SECONDS
    _deadline.set(time.monotonic() + seconds if seconds else None)


def _end_budget(**_: Any) -> None:
    _deadline.set(None)


def request_budget_start() -> None:
    """The request_started half, for a WSGI path that does not send Django's signals."""
    _start_budget()


def request_budget_end() -> None:
    """The request_finished half (see request_budget_start)."""
    _end_budget()


def request_budget_install() -> None:
    """Web processes: every request gets a database deadline DB_REQUEST_BUDGET_SECONDS after
    it starts (request_started to request_finished), and the gate guards its connections."""
    request_started.connect(_start_budget, dispatch_uid="db-request-budget-start")
    request_finished.connect(_end_budget, dispatch_uid="db-request-budget-end")


def request_budget_uninstall() -> None:
    """Undo request_budget_install (tests)."""
    request_started.disconnect(dispatch_uid="db-request-budget-start")
    request_finished.disconnect(dispatch_uid="db-request-budget-end")
    _deadline.set(None)


# --------------------------------------------------------------------------- gate
class DatabaseGate:
    """The aliases this process's requests stop using after one did not answer in time.

    Opened by the backend (config/mariadb), closed by a prober thread once the database answers
    within DB_PING_TIMEOUT_SECONDS again. Requests only: jobs and probes never consult it.
    """

    def __init__(self) -> None:
        self._opened: dict[str, float] = {}  # alias -> monotonic time the gate opened
        self._probers: dict[str, tuple[int, threading.Thread]] = {}
        self._changed = threading.Condition()

    def is_open(self, alias: str) -> bool:
        with self._changed:
            if alias not in self._opened:
                return False
            self._ensure_prober(alias)  # a forked worker inherits the state, not the thread
            return True

    def trip(self, alias: str, *, reason: str) -> None:
        with self._changed:
            if alias not in self._opened:
                self._opened[alias] = time.monotonic()
                logger.warning(
                    "database gate open alias=%s reason=%s: requests answer 503 until a probe "
                    "is answered within %ss",
                    alias,
                    reason,
                    settings.DB_PING_TIMEOUT_SECONDS,
                )
            self._ensure_prober(alias)

    def close(self, alias: str) -> None:
        with self._changed:
            opened = self._opened.pop(alias, None)
            self._changed.notify_all()
        if opened is not None:
            logger.warning(
                "database gate closed alias=%s open_seconds=%.1f",
                alias,
                time.monotonic() - opened,
            )

    def reset(self) -> None:
        """Close every gate without probing (tests); running probers stop at their next turn."""
        with self._changed:
            self._opened.clear()
            self._changed.notify_all()

    def wait_closed(self, alias: str, *, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: alias not in self._opened, timeout=timeout)

    def _ensure_prober(self, alias: str) -> None:
        pid = os.getpid()
        running = self._probers.get(alias)
        if running is not None and running[0] == pid and running[1].is_alive():
            return
        thread = threading.Thread(
            target=self._probe_until_answered, args=(alias,), name=f"db-gate-{alias}", daemon=True
        )
        self._probers[alias] = (pid, thread)
        thread.start()

    def _probe_until_answered(self, alias: str) -> None:
        while True:
            with self._changed:
                if alias not in self._opened:
                    return
                self._changed.wait(GATE_PROBE_INTERVAL_SECONDS)
                if alias not in self._opened:
                    return
            if database_answers(alias=alias, within=settings.DB_PING_TIMEOUT_SECONDS):
                self.close(alias)
                return


database_gate = DatabaseGate()


def database_answers(*, alias: str, within: float) -> bool:
    """Whether a fresh connection of `alias` answers `DO 1` within `within` seconds (its
    connect is bounded by the alias's connect and read timeouts). Never raises."""
    from config.mariadb.base import DatabaseWrapper  # mysqlclient: MariaDB deployments only

    wrapper = connections.create_connection(alias)
    if not isinstance(wrapper, DatabaseWrapper):
        return True  # SQLite (embedded mode): nothing to wait for
    try:
        wrapper.ensure_connection()
        return wrapper.answers_within(within)
    except Exception as exc:  # a probe only answers yes or no; the next one looks again
        logger.info("database probe failed alias=%s error=%s", alias, exc)
        return False
    finally:
        with suppress(Exception):
            wrapper.close()
