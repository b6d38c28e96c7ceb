"""Django's MySQL backend with the request-path limits of config.database.

config/settings.py gives every MariaDB alias this engine. Outside a web request (Celery jobs,
migrations, management commands, health's probes) it is Django's backend unchanged: everything
below applies only while config.database has a request deadline set.
"""

from __future__ import annotations

import math
import select
import time
from typing import Any

from django.conf import settings
from django.db.backends.mysql import base as mysql
from MySQLdb._exceptions import Error, OperationalError
from MySQLdb.connections import Connection

from config.database import database_gate, request_deadline

# Errors raised here read like the client library's own, so core.errors answers 503 for them:
# 1969 max_statement_time exceeded (nothing was sent), 2003 can't connect (the gate is open),
# 2013 lost connection (no answer in time: the connection is closed).
BUDGET_SPENT_CODE = 1969
GATE_OPEN_CODE = 2003
NO_ANSWER_CODE = 2013
PING_SQL = b"DO 1"


class NoAnswer(OperationalError):
    """The server sent nothing back within the limit; the connection has been closed."""


def _readable(fd: int, seconds: float) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)  # errors and hang-ups always count
    return bool(poller.poll(math.ceil(seconds * 1000)))


class BoundedConnection(Connection):
    """A mysqlclient connection whose statements, inside a web request, wait for their answer
    until the request's deadline at most."""

    # Connection.method(self) rather than super(): mypy's untyped_calls_exclude (pyproject)
    # recognises mysqlclient's unannotated methods only when they are named.
    def __init__(self, **params: Any) -> None:
        Connection.__init__(self, **params)

    def query(self, query: str | bytes | bytearray) -> None:
        deadline = request_deadline()
        if deadline is None:
            Connection.query(self, query)
            return
        if isinstance(query, bytearray):
            query = bytes(query)  # mysqlclient releases the GIL while sending: immutable only
        self.query_within(query, seconds=deadline - time.monotonic(), limit="request deadline")

    def query_within(self, query: str | bytes, *, seconds: float, limit: str) -> None:
        """Send `query` and wait at most `seconds` for the first byte of its answer (the rest
        is read under the read timeout, as usual). Raises OperationalError: 1969 when `seconds`
        is already spent (nothing sent), NoAnswer (2013) when no answer came in time."""
        if seconds <= 0:
            raise OperationalError(BUDGET_SPENT_CODE, f"{limit} passed; statement not sent")
        self.send_query(query)
        if not _readable(self.fileno(), seconds):
            # The answer may still come: this connection can never be used again.
            self.close()
            raise NoAnswer(NO_ANSWER_CODE, f"no answer within the {limit} ({seconds:.2f}s)")
        self.read_query_result()

    def answers_within(self, seconds: float) -> bool:
        try:
            self.query_within(PING_SQL, seconds=seconds, limit="ping limit")
        except Error:
            return False
        return True

    def close(self) -> None:
        # Django closes after errors; the connection may already be closed by query_within.
        if self.open:
            super().close()


class DatabaseWrapper(mysql.DatabaseWrapper):
    def get_new_connection(self, conn_params: Any) -> Any:
        in_request = request_deadline() is not None
        if in_request and database_gate.is_open(self.alias):
            raise OperationalError(
                GATE_OPEN_CODE,
                f"database {self.alias!r} did not answer in time recently; not connecting "
                "until a probe is answered (config.database gate)",
            )
        try:
            connection = BoundedConnection(**conn_params)
        except OperationalError as exc:
            if in_request:
                database_gate.trip(self.alias, reason=f"connect failed: {exc}")
            raise
        # As Django's backend does: mysqlclient's bytes encoder does not work (mysqlclient#489).
        if connection.encoders.get(bytes) is bytes:
            connection.encoders.pop(bytes)
        return connection

    def is_usable(self) -> bool:
        """Inside a request (CONN_HEALTH_CHECKS, once per request): `DO 1` within the ping
        limit. No answer in time opens the gate, so the reconnect that follows fails at once."""
        deadline = request_deadline()
        if deadline is None:
            return bool(super().is_usable())
        limit = settings.DB_PING_TIMEOUT_SECONDS
        seconds = min(limit, deadline - time.monotonic())
        try:
            self.connection.query_within(PING_SQL, seconds=seconds, limit="ping limit")
        except NoAnswer as exc:
            if seconds >= limit:
                database_gate.trip(self.alias, reason=str(exc))
            return False
        except Error:
            return False  # gone (a restart, a reset): Django reconnects
        return True

    def answers_within(self, seconds: float) -> bool:
        """Whether the open connection answers `DO 1` within `seconds` (the gate's probe)."""
        return bool(self.connection.answers_within(seconds))
