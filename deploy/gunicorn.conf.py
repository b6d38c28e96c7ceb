"""gunicorn settings: sync workers behind nginx (deploy/nginx/nginx.conf).

    deploy/web   (the entry point: execs gunicorn -c deploy/gunicorn.conf.py config.wsgi:application)

Environment: WEB_BIND (default 127.0.0.1:8000), WEB_WORKERS (default 2 x CPUs + 1),
GUNICORN_TIMEOUT_SECONDS (30), GUNICORN_MAX_REQUESTS (0 = never recycle), and
PROMETHEUS_MULTIPROC_DIR for prometheus_client's multiprocess mode (the web uses its `web/`
subdirectory: monitoring.multiproc).
"""

from __future__ import annotations

import multiprocessing
import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

bind = os.environ.get("WEB_BIND", "127.0.0.1:8000")
# Sync workers: every request is short (one Redis round trip on the hot path); a worker per
# core plus headroom for the ones waiting on the database.
workers = int(os.environ.get("WEB_WORKERS", str(multiprocessing.cpu_count() * 2 + 1)))
# sync unless measured otherwise (bench/stats_bench.py compares sync, gthread and granian).
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT_SECONDS", "30"))
graceful_timeout = 30
# nginx keeps upstream connections alive; sync workers still answer one request at a time.
keepalive = 5
backlog = 4096
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Headers from nginx: the app reads X-Forwarded-For itself (core.client_ip, TRUSTED_PROXIES).
forwarded_allow_ips = "127.0.0.1"


def when_ready(server: Any) -> None:
    """Refuse to start when the coordination Redis may evict keys (core.checks)."""
    import django

    django.setup()
    from core.checks import verify_at_startup
    from monitoring.health import drain_cancel

    verify_at_startup(process="gunicorn")
    # A drain belongs to the server it stopped (`manage.py drain --wait` keeps health 503
    # through the shutdown): a new server starts in rotation.
    if drain_cancel():
        server.log.info("drain file of the previous run removed")


def post_fork(server: Any, worker: Any) -> None:
    """Fresh Redis pools and database connections per worker (never shared across a fork)."""
    from django.conf import settings

    if not settings.configured:
        return
    from django.db import connections

    from core import redis as coordination

    coordination.reset_clients()
    for connection in connections.all(initialized_only=True):
        connection.close()


# ---------------------------------------------------------------- prometheus multiprocess hooks
def on_starting(server: Any) -> None:
    """Select the web's own subdirectory of PROMETHEUS_MULTIPROC_DIR (workers inherit it) and
    wipe it before any worker forks: stale files of the previous run would otherwise be summed
    into every scrape forever. Other kinds' subdirectories (Celery) are not touched."""
    from monitoring.multiproc import multiprocess_dir_reset, multiprocess_dir_select

    if multiprocess_dir_select(kind="web"):
        multiprocess_dir_reset()


def child_exit(server: Any, worker: Any) -> None:
    """A worker exited: drop its live gauges (memory, DB connections); its counters stay summed."""
    from monitoring.multiproc import multiprocess_mark_dead

    multiprocess_mark_dead(worker.pid)
