"""Database limits for the request path.

A stalled or slow MariaDB must fail a request (503, see core.errors) long before gunicorn's
worker timeout kills the worker. Web processes get a client read/write timeout and a
server-side `max_statement_time`; Celery jobs, migrations and seeding keep none, because a
bulk statement there may rightly run longer (their own time limits bound them).
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import OperationalError, connections
from django.db.backends.signals import connection_created

MYSQL_ENGINE = "django.db.backends.mysql"


def request_timeouts_apply(
    *,
    databases: dict[str, dict[str, Any]] | None = None,
    read_seconds: int | None = None,
    write_seconds: int | None = None,
    statement_seconds: float | None = None,
) -> None:
    """Give every MariaDB alias the request-path limits (settings' DB_*_TIMEOUT_SECONDS by
    default). Call before the first request; connections opened afterwards use them."""
    databases = settings.DATABASES if databases is None else databases
    read_seconds = settings.DB_READ_TIMEOUT_SECONDS if read_seconds is None else read_seconds
    write_seconds = settings.DB_WRITE_TIMEOUT_SECONDS if write_seconds is None else write_seconds
    if statement_seconds is None:
        statement_seconds = settings.DB_STATEMENT_TIMEOUT_SECONDS
    for config in databases.values():
        if config.get("ENGINE") != MYSQL_ENGINE:
            continue
        options = config.setdefault("OPTIONS", {})
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


# --------------------------------------------------------------------------- request budget
# Per-statement limits do not bound a request that runs many statements against a slow (not
# stalled) database: at 2 s of latency each way every statement takes 4 s and none times out.
# So a request also gets a total database budget; a statement that would start past it fails
# as a transient database error (503). Worst case: budget + one statement (connect + read).
_deadline: ContextVar[float | None] = ContextVar("db_request_deadline", default=None)
BUDGET_EXCEEDED_CODE = 1969  # MariaDB's "max_statement_time exceeded": a 503, see core.errors


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


def _check_budget(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    deadline = _deadline.get()
    if deadline is not None and time.monotonic() > deadline:
        raise OperationalError(
            BUDGET_EXCEEDED_CODE,
            f"request database budget of {settings.DB_REQUEST_BUDGET_SECONDS}s exceeded",
        )
    return execute(sql, params, many, context)


def _install_budget(connection: Any, **_: Any) -> None:
    if _check_budget not in connection.execute_wrappers:
        connection.execute_wrappers.append(_check_budget)


def request_budget_install() -> None:
    """Web processes: every request gets DB_REQUEST_BUDGET_SECONDS of database time in total
    (from request_started to request_finished), on every connection opened from now on."""
    request_started.connect(_start_budget, dispatch_uid="db-request-budget-start")
    request_finished.connect(_end_budget, dispatch_uid="db-request-budget-end")
    connection_created.connect(_install_budget, dispatch_uid="db-request-budget")
    for connection in connections.all(initialized_only=True):
        _install_budget(connection)


def request_budget_uninstall() -> None:
    """Undo request_budget_install (tests)."""
    request_started.disconnect(dispatch_uid="db-request-budget-start")
    request_finished.disconnect(dispatch_uid="db-request-budget-end")
    connection_created.disconnect(dispatch_uid="db-request-budget")
    for connection in connections.all(initialized_only=True):
        if _check_budget in connection.execute_wrappers:
            connection.execute_wrappers.remove(_check_budget)
    _deadline.set(None)
