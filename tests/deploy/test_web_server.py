"""`deploy/web` on granian gives production what gunicorn's arbiter did: a worker stuck past
WEB_TIMEOUT_SECONDS is ended and replaced, and SIGTERM lets the request in flight finish.

Starts the real entry point (one worker) with test-only views (tests/deploy/webapp).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.client import HTTPException
from pathlib import Path

import pytest

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_SECONDS = 2


def _get(url: str, *, timeout: float = 10) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _answer_within(url: str, *, seconds: float, process: subprocess.Popen) -> tuple[int, str]:
    deadline = time.monotonic() + seconds
    while True:
        assert process.poll() is None, f"deploy/web exited with {process.returncode}"
        try:
            return _get(url, timeout=2)
        except (OSError, HTTPException):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def web() -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    process = subprocess.Popen(
        [str(ROOT / "deploy" / "web")],
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "tests.deploy.webapp.settings",
            "WEB_SERVER": "granian",
            "WEB_BIND": f"127.0.0.1:{port}",
            "WEB_WORKERS": "1",
            "WEB_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
            "LOG_LEVEL": "WARNING",
        },
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _answer_within(f"{base}/test/pid", seconds=60, process=process)
        yield base, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def test_a_request_stuck_past_the_timeout_ends_its_worker_and_a_new_one_serves(web):
    base, process = web
    _status, first_pid = _get(f"{base}/test/pid")

    started = time.monotonic()
    with pytest.raises((OSError, HTTPException)):
        _get(f"{base}/test/sleep?seconds=60", timeout=20)  # the connection dies with the worker
    assert time.monotonic() - started < TIMEOUT_SECONDS + 8

    status, second_pid = _answer_within(f"{base}/test/pid", seconds=20, process=process)
    assert status == 200
    assert second_pid != first_pid
    assert process.poll() is None  # the server itself lives on


def test_sigterm_lets_the_request_in_flight_finish_then_exits(web):
    base, process = web
    answers: list[tuple[int, str]] = []
    in_flight = threading.Thread(
        target=lambda: answers.append(_get(f"{base}/test/sleep?seconds=1.5", timeout=20))
    )
    in_flight.start()
    time.sleep(0.5)

    process.send_signal(signal.SIGTERM)
    in_flight.join(timeout=20)

    assert answers == [(200, "slept")]
    assert process.wait(timeout=30) == 0
