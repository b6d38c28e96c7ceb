"""A Celery worker rides out a broker restart on its own (issue #13, defect 3).

A real worker process on a real redis-server of the test's own (append-only, so queued and
unacked messages survive like on the coordination role), jobs in flight when the broker goes
away: the worker must still be running afterwards, start every job that was in flight or
queued, and run jobs published after the restart.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import redis

from config.celery import app as celery_app
from tests.servers import free_port
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
QUEUE = "resilience-restart"


def _start_redis(port: int, directory: str) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            *("redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", directory),
            *("--save", "", "--appendonly", "yes", "--appendfsync", "always"),
        ],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            return process
        except redis.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def _counter(client: redis.Redis, key: str) -> int:
    try:
        return int(client.get(key) or 0)
    except redis.ConnectionError:
        return 0


@pytest.mark.timeout(300)
def test_worker_survives_a_broker_restart_with_jobs_in_flight(tmp_path):
    port = free_port()
    directory = tempfile.mkdtemp(prefix="test-broker-", dir=tmp_path)
    broker = _start_redis(port, directory)
    env = {
        **os.environ,
        "REDIS_URL": f"redis://127.0.0.1:{port}/1",
        "REDIS_CACHE_URL": f"redis://127.0.0.1:{port}/2",
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{port}/3",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "CELERY_WORKER_METRICS_PORT": "0",
        "PROMETHEUS_MULTIPROC_DIR": "",
        "LOG_LEVEL": "INFO",
        # Jobs the worker had reserved when the broker went away sit in kombu's unacked set
        # (its restore needs the broker it just lost): they come back after this queue's
        # visibility timeout (config/broker.py), shortened here from the default queue's hour.
        "CELERY_QUEUE_VISIBILITY_TIMEOUT_SECONDS": f"{QUEUE}=10",
    }
    log = open(tmp_path / "worker.log", "w+")  # noqa: SIM115 (read back on failure)
    worker = subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", QUEUE, "-c", "2"),
            *("--include", "tests.worker_jobs", "-n", f"restart-{port}@%h", "--without-mingle"),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    client = redis.Redis(port=port, db=1)
    broker_url = env["CELERY_BROKER_URL"]

    def publish(seconds: float, *keys: str) -> None:
        """Publish from this process to the test's own broker (no eager mode: send_task)."""
        with celery_app.connection_for_write(broker_url) as connection:
            for key in keys:
                celery_app.send_task(
                    "tests.worker_jobs.mark_then_sleep",
                    args=[key, seconds],
                    queue=QUEUE,
                    connection=connection,
                )

    try:
        publish(0, "ready")
        assert wait_until(
            lambda: _counter(client, "ready") == 1, timeout_seconds=40, interval_seconds=0.2
        ), "worker never ran"
        # worker_ready started its consumer heartbeat (monitoring.consumers): health sees it
        assert client.zcard(f"monitoring:v1:consumers:{QUEUE}") == 1
        publish(3, "inflight-1", "inflight-2", "inflight-3", "inflight-4")
        time.sleep(1)  # two running, the rest reserved or queued
        broker.terminate()
        broker.wait(timeout=10)
        time.sleep(2)
        broker = _start_redis(port, directory)
        publish(0, "after-1", "after-2")
        keys = ["after-1", "after-2", "inflight-1", "inflight-2", "inflight-3", "inflight-4"]
        assert wait_until(
            lambda: all(_counter(client, key) >= 1 for key in keys),
            timeout_seconds=60,
            interval_seconds=0.2,
        ), {key: _counter(client, key) for key in keys}
        assert worker.poll() is None, "the worker exited when the broker restarted"
        worker.terminate()  # warm shutdown leaves the consumer set at once
        worker.wait(timeout=30)
        assert client.zcard(f"monitoring:v1:consumers:{QUEUE}") == 0
    except AssertionError:
        log.seek(0)
        print(log.read()[-6000:])
        raise
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
        broker.terminate()
        broker.wait(timeout=10)
        log.close()
