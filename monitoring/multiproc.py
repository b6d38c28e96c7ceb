"""Multiprocess-mode housekeeping, importable without creating any metric.

gunicorn's master imports this in `on_starting` (before the app and its metrics exist) and
`child_exit`; Celery's worker signals use the same two functions.
"""

from __future__ import annotations

import os
import shutil


def multiprocess_dir_reset(path: str | None = None, *, keep_pid: int | None = None) -> None:
    """Empty the multiprocess directory; call once when the server starts, before workers fork
    (stale files from a previous run would otherwise be summed forever).

    `keep_pid` spares the files of that process (the caller's own, already mapped: deleting
    them would make its later writes vanish)."""
    path = path or os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if not path:
        return
    kept_suffix = f"_{keep_pid}.db" if keep_pid is not None else None
    if os.path.isdir(path):
        for entry in os.listdir(path):
            if kept_suffix and entry.endswith(kept_suffix):
                continue
            full = os.path.join(path, entry)
            if os.path.isdir(full):
                shutil.rmtree(full, ignore_errors=True)
            else:
                os.remove(full)
    os.makedirs(path, exist_ok=True)


def multiprocess_mark_dead(pid: int) -> None:
    """Drop a dead worker's live gauges (gunicorn `child_exit`, Celery process shutdown)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
