"""Multiprocess-mode housekeeping, importable without creating any metric.

`PROMETHEUS_MULTIPROC_DIR` names one base directory for the whole host (`.env`); each process
kind writes into a subdirectory of its own, chosen before its first metric exists:

- `web/`: the web server (deploy/web; gunicorn's master wipes it in `on_starting`, workers
  select it in config/wsgi.py). `/api/metrics` reads only this one.
- `worker-<pid>/`: one Celery worker (main process pid; its pool processes inherit it), read
  by that worker's own metrics port. A starting worker removes the directories of workers
  that are gone, never a live sibling's (supervisor runs four workers on one host).
- `beat/`: celery beat (nothing scrapes it; kept apart so it can't touch the others).

So a Celery worker starting or restarting never deletes the web's files (issue #12: it used
to wipe the shared directory, and `http_request_duration_milliseconds` vanished from
`/api/metrics` until the web server restarted).
"""

from __future__ import annotations

import os
import shutil

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# The base as configured, kept once a kind was selected so a child never nests kinds.
BASE_ENV = "PROMETHEUS_MULTIPROC_BASE_DIR"
WORKER_PREFIX = "worker-"


def multiprocess_base_dir() -> str:
    """The configured base directory ('' = single-process metrics)."""
    base = os.environ.get(BASE_ENV)
    if base is None:
        # settings read `.env` into the environment (environ.Env.read_env), like every variable.
        from django.conf import settings

        base = settings.PROMETHEUS_MULTIPROC_DIR
    return base


def multiprocess_dir() -> str:
    """This process's metric directory ('' = single-process metrics): the variable
    prometheus_client itself reads, set by multiprocess_dir_select. The configured base is
    `multiprocess_base_dir()` (settings.PROMETHEUS_MULTIPROC_DIR)."""
    return os.environ.get(MULTIPROC_ENV, "")


def multiprocess_dir_select(*, kind: str) -> str:
    """Point this process, and every process it forks from now on, at `<base>/<kind>`.

    Must run before the process creates its first metric (prometheus_client opens its files
    at the first value, and again after a fork). Idempotent; returns the directory ('' when
    multiprocess mode is off).
    """
    base = multiprocess_base_dir()
    if not base:
        return ""
    path = os.path.join(base, kind)
    os.makedirs(path, exist_ok=True)
    os.environ[BASE_ENV] = base
    os.environ[MULTIPROC_ENV] = path
    return path


def multiprocess_dir_reset(path: str | None = None, *, keep_pid: int | None = None) -> None:
    """Delete the metric files in this process kind's directory; call once when the server
    starts, before workers fork (stale files from a previous run would otherwise be summed
    forever). Subdirectories (other kinds, when called on a base) are never touched.

    `keep_pid` spares the files of that process (the caller's own, already mapped: deleting
    them would make its later writes vanish)."""
    path = path or multiprocess_dir()
    if not path:
        return
    kept_suffix = f"_{keep_pid}.db" if keep_pid is not None else None
    if os.path.isdir(path):
        for entry in os.listdir(path):
            full = os.path.join(path, entry)
            if (kept_suffix and entry.endswith(kept_suffix)) or os.path.isdir(full):
                continue
            os.remove(full)
    os.makedirs(path, exist_ok=True)


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def multiprocess_worker_dirs_prune() -> list[str]:
    """Remove `worker-<pid>` directories of Celery workers that no longer run; returns them."""
    base = os.environ.get(BASE_ENV, "")
    if not base or not os.path.isdir(base):
        return []
    removed = []
    for entry in os.listdir(base):
        suffix = entry.removeprefix(WORKER_PREFIX)
        if entry.startswith(WORKER_PREFIX) and suffix.isdigit() and not _is_alive(int(suffix)):
            shutil.rmtree(os.path.join(base, entry), ignore_errors=True)
            removed.append(entry)
    return removed


def multiprocess_mark_gone() -> list[int]:
    """Mark dead every process of this kind whose live-gauge files remain but which no longer
    runs: the scrape-time equivalent of gunicorn's `child_exit`, for servers without that hook
    (granian respawns and recycles workers itself) and for workers killed without it."""
    path = os.environ.get(MULTIPROC_ENV, "")
    if not path or not os.path.isdir(path):
        return []
    gone = set()
    for entry in os.listdir(path):
        if not (entry.startswith("gauge_live") and entry.endswith(".db")):
            continue
        pid_text = entry[:-3].rsplit("_", 1)[-1]
        if pid_text.isdigit() and not _is_alive(int(pid_text)):
            gone.add(int(pid_text))
    for pid in sorted(gone):
        multiprocess_mark_dead(pid)
    return sorted(gone)


def multiprocess_mark_dead(pid: int) -> None:
    """Drop a dead worker's live gauges (gunicorn `child_exit`, Celery process shutdown)."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
