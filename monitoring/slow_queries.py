"""Slow-query logging through a connection execute_wrapper, installed on every new connection.

A query over SLOW_QUERY_MS is logged with its SQL, duration and the request id. Parameters
are replaced by "[redacted]" unless SLOW_QUERY_LOG_PARAMS=1, and never shown for queries
touching user, session or token tables, whatever the setting says.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from django.conf import settings

from core.context import request_id_var

logger = logging.getLogger("monitoring.slow_query")

REDACTED = "[redacted]"
SQL_LOG_MAX_CHARS = 2000  # long IN (...) lists would flood the log


@lru_cache(maxsize=1)
def _sensitive_tables_re() -> re.Pattern[str]:
    from django.apps import apps

    tables = {
        "django_session",
        "token_blacklist_outstandingtoken",
        "token_blacklist_blacklistedtoken",
    }
    with contextlib.suppress(LookupError):
        tables.add(apps.get_model(settings.AUTH_USER_MODEL)._meta.db_table)
    for model in apps.get_models():
        label = f"{model._meta.app_label}.{model.__name__}".lower()
        if "token" in label or model._meta.app_label == "authtoken":
            tables.add(model._meta.db_table)
    names = "|".join(re.escape(table) for table in sorted(tables))
    return re.compile(rf"[`\"\s.,(]({names})[`\"\s.,)]|[`\"\s.,(]({names})$", re.IGNORECASE)


def touches_sensitive_table(sql: str) -> bool:
    return bool(_sensitive_tables_re().search(" " + sql))


def params_for_log(sql: str, params: Any) -> Any:
    if not settings.SLOW_QUERY_LOG_PARAMS or touches_sensitive_table(sql):
        return REDACTED
    return params


def slow_query_wrapper(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    """execute_wrapper: time the statement; log and remember it when over SLOW_QUERY_MS."""
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        duration_ms = (time.perf_counter() - started) * 1000
        if duration_ms >= settings.SLOW_QUERY_MS:
            _report(sql=sql, params=params, duration_ms=duration_ms, context=context)


def _report(*, sql: str, params: Any, duration_ms: float, context: dict[str, Any]) -> None:
    from monitoring import aggregates

    request_id = request_id_var.get()
    alias = getattr(context.get("connection"), "alias", "?")
    shown_params = params_for_log(sql, params)
    logger.warning(
        "slow query duration_ms=%.1f alias=%s request_id=%s sql=%s params=%s",
        duration_ms,
        alias,
        request_id,
        sql[:SQL_LOG_MAX_CHARS],
        shown_params,
        extra={"duration_ms": round(duration_ms, 1), "db_alias": alias},
    )
    aggregates.record_slow_query(
        {
            "sql": sql[:SQL_LOG_MAX_CHARS],
            "duration_ms": round(duration_ms, 1),
            "alias": alias,
            "request_id": request_id,
            "at": time.time(),
        }
    )


def install(sender: Any = None, connection: Any = None, **_: Any) -> None:
    """connection_created receiver: add the wrapper once per connection."""
    if connection is not None and slow_query_wrapper not in connection.execute_wrappers:
        connection.execute_wrappers.append(slow_query_wrapper)
