"""Celery signal receivers: request id hand-off, beat success times, worker metrics port.

Connected from MonitoringConfig.ready(), so the web processes (publishers) and the workers
(consumers) both have them.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from django.conf import settings

from core.context import request_id_var

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "request_id"
_server_lock = threading.Lock()
_server_started_port: int | None = None


def publish_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """before_task_publish: carry the current request id in the message headers."""
    if headers is None:
        return
    request_id = request_id_var.get()
    if request_id and request_id != "-":
        headers.setdefault(REQUEST_ID_HEADER, request_id)


def adopt_request_id(task: Any = None, **_: Any) -> None:
    """task_prerun (after config.celery's reset): log lines of the job carry the request id
    of the request that enqueued it."""
    if task is None:
        return
    request = task.request
    request_id = getattr(request, REQUEST_ID_HEADER, None) or (
        (getattr(request, "headers", None) or {}).get(REQUEST_ID_HEADER)
    )
    if request_id:
        request_id_var.set(str(request_id))


def record_beat_success(sender: Any = None, **_: Any) -> None:
    """task_success: remember when each beat schedule last succeeded."""
    from monitoring.beat import beat_success_record

    name = getattr(sender, "name", None)
    if name:
        try:
            beat_success_record(task_name=name)
        except Exception:  # bookkeeping must never fail a job
            logger.exception("beat success record failed task=%s", name)


def reset_multiprocess_dir(**_: Any) -> None:
    """worker_init (main process, before the pool forks): this worker's metric directory
    starts empty and directories of workers that are gone are removed; the web's and live
    siblings' files are never touched (monitoring.multiproc)."""
    from monitoring.multiproc import (
        BASE_ENV,
        WORKER_PREFIX,
        multiprocess_dir,
        multiprocess_dir_reset,
        multiprocess_worker_dirs_prune,
    )

    if not os.environ.get(BASE_ENV):
        # Not started by `celery worker` (config.celery selects the directory there): the
        # directory may be shared with other processes, so nothing is deleted.
        return
    if not os.path.basename(multiprocess_dir()).startswith(WORKER_PREFIX):
        return
    multiprocess_worker_dirs_prune()
    # Django (and so our metrics) is already loaded here: spare this process's own files.
    multiprocess_dir_reset(keep_pid=os.getpid())


def init_process_metrics(**_: Any) -> None:
    """worker_process_init (each pool process) and worker_ready (main process): create this
    process's label sets now, so a scrape shows every series before its first job."""
    from monitoring import metrics

    metrics.preinitialise(include_routes=False)
    metrics.memory_usage_update()


def mark_child_dead(pid: int | None = None, **_: Any) -> None:
    """worker_process_shutdown: drop the exiting pool process's live gauges."""
    from monitoring.multiproc import multiprocess_mark_dead

    multiprocess_mark_dead(os.getpid() if pid is None else pid)


def start_worker_metrics_server(**_: Any) -> int | None:
    """worker_ready: serve this worker's metrics (all pool processes in multiprocess mode)
    on CELERY_WORKER_METRICS_PORT; 0 disables. A busy port is logged, not fatal."""
    global _server_started_port
    from prometheus_client import start_http_server

    from monitoring import metrics

    init_process_metrics()
    port = settings.CELERY_WORKER_METRICS_PORT
    if not port:
        return None
    with _server_lock:
        if _server_started_port is not None:
            return _server_started_port
        try:
            server, _thread = start_http_server(
                port,
                addr=settings.CELERY_WORKER_METRICS_ADDR,
                registry=metrics.base_registry(),
            )
        except OSError as exc:
            logger.warning("worker metrics port unavailable port=%s error=%s", port, exc)
            return None
        _server_started_port = server.server_port
        logger.info("worker metrics listening port=%s", _server_started_port)
        return _server_started_port


def connect() -> None:
    from celery import signals

    signals.before_task_publish.connect(publish_request_id, weak=False, dispatch_uid="mon-pub")
    signals.task_prerun.connect(adopt_request_id, weak=False, dispatch_uid="mon-prerun")
    signals.task_success.connect(record_beat_success, weak=False, dispatch_uid="mon-beat")
    signals.worker_init.connect(reset_multiprocess_dir, weak=False, dispatch_uid="mon-init")
    signals.worker_process_init.connect(init_process_metrics, weak=False, dispatch_uid="mon-child")
    signals.worker_process_shutdown.connect(mark_child_dead, weak=False, dispatch_uid="mon-exit")
    signals.worker_ready.connect(start_worker_metrics_server, weak=False, dispatch_uid="mon-port")
    from monitoring.consumers import start_consumer_heartbeat, stop_consumer_heartbeat

    signals.worker_ready.connect(start_consumer_heartbeat, weak=False, dispatch_uid="mon-hb")
    signals.worker_shutdown.connect(stop_consumer_heartbeat, weak=False, dispatch_uid="mon-hb-end")
