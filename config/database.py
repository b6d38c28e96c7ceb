"""Database limits for the request path.

A stalled or slow MariaDB must fail a request (503, see core.errors) long before gunicorn's
worker timeout kills the worker. Web processes get a client read/write timeout and a
server-side `max_statement_time`; Celery jobs, migrations and seeding keep none, because a
bulk statement there may rightly run longer (their own time limits bound them).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

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
