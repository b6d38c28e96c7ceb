"""A SIGKILLed worker's unacknowledged short job is redelivered after its queue's visibility
timeout, not after the broker-wide hour (issue #13, defect 6; config/broker.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from tests.servers import throwaway_redis

ROOT = Path(__file__).resolve().parents[2]
QUEUE = "resilience-redelivery"


def _worker(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", QUEUE, "-P", "solo"),
            *("--include", "tests.worker_jobs", "--without-mingle", "--without-gossip"),
        ],
        cwd=ROOT,
        env=env,
        stdout=log_path.open("a"),
        stderr=subprocess.STDOUT,
    )


def _wait_for(predicate, *, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.timeout(150)
def test_sigkilled_workers_short_job_comes_back_after_its_queue_timeout(tmp_path):
    with throwaway_redis() as server:
        port = server.connection_pool.connection_kwargs["port"]
        env = {
            **os.environ,
            "REDIS_URL": f"redis://127.0.0.1:{port}/1",
            "REDIS_CACHE_URL": f"redis://127.0.0.1:{port}/2",
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{port}/3",
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "CELERY_WORKER_METRICS_PORT": "0",
            "PROMETHEUS_MULTIPROC_DIR": "",
            # the broker-wide default stays one hour; this queue's jobs come back after 3 s
            "CELERY_QUEUE_VISIBILITY_TIMEOUT_SECONDS": f"{QUEUE}=3",
        }
        state = redis.Redis(port=port, db=1)
        broker = redis.Redis(port=port, db=3)
        log_path = tmp_path / "workers.log"
        first = _worker(env, log_path)
        second = None
        try:
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import django; django.setup()\n"
                    "from tests.worker_jobs import mark_then_sleep\n"
                    f"mark_then_sleep.apply_async(args=['starts', 60], queue={QUEUE!r})\n",
                ],
                cwd=ROOT,
                env=env,
                check=True,
                timeout=60,
            )
            assert _wait_for(lambda: int(state.get("starts") or 0) == 1, seconds=60)
            assert broker.hlen("unacked") == 1  # taken, running, not acknowledged
            os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
            second = _worker(env, log_path)
            assert _wait_for(lambda: int(state.get("starts") or 0) == 2, seconds=60), (
                log_path.read_text()[-4000:]
            )
        finally:
            for process in (first, second):
                if process is not None and process.poll() is None:
                    process.kill()
                    process.wait(timeout=10)
