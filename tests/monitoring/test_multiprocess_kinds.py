"""The web server and a Celery worker started with ONE environment (one PROMETHEUS_MULTIPROC_DIR,
as `.env.example` suggests) keep their metric files apart: a worker starting or restarting
never removes the web's histogram from /api/metrics (issue #12).

Starts the real entry points: `deploy/web` (2 workers) and `celery -A config worker`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.monitoring.test_metrics_endpoint import _sample
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
LIVE_ROUTE = {"method": "GET", "route": "/api/health/live"}


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def _wait(url: str, *, process: subprocess.Popen, timeout_seconds: float = 60) -> str:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{process.args} exited with {process.returncode}"
        try:
            return _get(url)
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout_seconds} s")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture
def shared_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "LOG_LEVEL": "WARNING",
        "GUNICORN_LOG_LEVEL": "warning",
    }


@pytest.fixture
def web(shared_env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [str(ROOT / "deploy" / "web")],
        cwd=ROOT,
        env={**shared_env, "WEB_BIND": f"127.0.0.1:{port}", "WEB_WORKERS": "2"},
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(f"{base}/api/health/live", process=process)
        yield base
    finally:
        _stop(process)


def _start_worker(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "celery"),
            "-A",
            "config",
            "worker",
            "-Q",
            f"metrics-kinds-{port}",
            "-c",
            "1",
            "-l",
            "WARNING",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env={
            **env,
            "CELERY_WORKER_METRICS_PORT": str(port),
            "CELERY_WORKER_METRICS_ADDR": "127.0.0.1",
        },
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        _wait(url, process=process, timeout_seconds=90)
    except BaseException:
        _stop(process)
        raise
    return process, url


def test_worker_start_and_restart_keep_the_web_request_histogram(
    web: str, shared_env: dict[str, str]
):
    for _ in range(5):
        _get(f"{web}/api/health/live")
    before = _sample(
        _get(f"{web}/api/metrics"), "http_request_duration_milliseconds_count", **LIVE_ROUTE
    )
    assert before is not None and before >= 5

    worker, worker_url = _start_worker(shared_env)
    try:
        after_start = _get(f"{web}/api/metrics")
        worker_text = _get(worker_url)
    finally:
        _stop(worker)
    restarted, _ = _start_worker(shared_env)
    try:
        after_restart = _get(f"{web}/api/metrics")
    finally:
        _stop(restarted)

    for text in (after_start, after_restart):
        count = _sample(text, "http_request_duration_milliseconds_count", **LIVE_ROUTE)
        assert count is not None and count >= before
        bucket = {**LIVE_ROUTE, "le": "+Inf"}
        assert _sample(text, "http_request_duration_milliseconds_bucket", **bucket) == count
    # Each kind has its own files: the worker's port does not report the web's requests.
    assert _sample(worker_text, "http_request_duration_milliseconds_count", **LIVE_ROUTE) is None
    kinds = sorted(p.name for p in Path(shared_env["PROMETHEUS_MULTIPROC_DIR"]).iterdir())
    assert "web" in kinds
    # The first worker's directory went with it (its pid is dead); the restarted one's stays.
    assert [k for k in kinds if k.startswith("worker-")] == [f"worker-{restarted.pid}"]
