from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from monitoring.multiproc import multiprocess_dir_select

# Web processes keep their metric files in `web/` of PROMETHEUS_MULTIPROC_DIR, apart from
# Celery's (before any metric exists; the server's master selected it already when it can).
multiprocess_dir_select(kind="web")

application = get_wsgi_application()

from config.fastpath import StatsShortcut  # noqa: E402 (needs settings loaded)

# GET /api/stats skips Django's request machinery: same response, less than half the CPU.
application = StatsShortcut(application)  # type: ignore[assignment]

# granian has no request timeout of its own: deploy/web sets this for it (gunicorn's arbiter
# does the same job there), and a worker stuck past it is ended and replaced.
_watchdog_seconds = float(os.environ.get("WEB_WATCHDOG_SECONDS") or 0)
if _watchdog_seconds > 0:
    from core.wsgi_watchdog import RequestWatchdog

    application = RequestWatchdog(application, timeout_seconds=_watchdog_seconds)  # type: ignore[assignment]

from config.database import (  # noqa: E402 (needs settings loaded)
    request_budget_install,
    request_timeouts_apply,
)

# A slow or stalled database fails requests with 503 in bounded time (config/database.py), long
# before the worker timeout above, and stops holding the workers Redis-only requests need.
request_timeouts_apply()
request_budget_install()
