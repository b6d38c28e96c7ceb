from __future__ import annotations

import os
import socket
import time

import pytest
import time_machine
from django.core.management import call_command
from django.db import connections

from monitoring import health

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _patient_probes(monkeypatch):
    # This 2-core machine runs other suites at once: "slow" here would be noise, not signal.
    monkeypatch.setattr(health, "SLOW_PROBE_MS", 250)


@pytest.fixture(autouse=True)
def _every_queue_consumed():
    """A worker heartbeat for every queue, as a running `make worker` records it."""
    from config.celery import QUEUES
    from monitoring.consumers import consumer_heartbeat_record

    consumer_heartbeat_record(worker="test-worker@host", queues=QUEUES)


@pytest.fixture
def drain_file(settings, tmp_path):
    settings.DRAIN_FILE = str(tmp_path / "drain")
    settings.DRAIN_SECONDS = 30
    return tmp_path / "drain"


def test_all_services_up_is_healthy(client):
    response = client.get("/api/health")

    assert response.status_code == 200
    body = response.json()
    assert body == {
        "status": "healthy",
        "services": {
            "database": "ok",
            "replicas": "not_configured",
            "cache": "ok",
            "coordination": "ok",
            "queue": "ok",
        },
        "metrics": {
            "queue_size": 0,
            "consumers": {"default": 1, "reminders": 1, "urgent": 1, "sync": 1},
        },
    }


def test_cache_down_is_degraded_but_200(client, settings):
    settings.REDIS_CACHE_URL = "redis://127.0.0.1:1/11"  # nothing listens on port 1

    response = client.get("/api/health")

    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["services"]["cache"] == "down"
    assert response.json()["services"]["database"] == "ok"


def test_primary_database_down_is_unhealthy_503(client, monkeypatch):
    monkeypatch.setitem(connections.settings["default"], "PORT", "1")

    response = client.get("/api/health")

    assert response.status_code == 503
    assert response.json()["status"] == "unhealthy"
    assert response.json()["services"]["database"] == "down"


def test_a_hanging_dependency_costs_one_probe_deadline(client, settings):
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        settings.REDIS_URL = f"redis://127.0.0.1:{silent.getsockname()[1]}/10"
        started = time.perf_counter()
        response = client.get("/api/health")
        elapsed = time.perf_counter() - started

    assert response.json()["services"]["coordination"] == "slow"  # stalled, not refused
    assert response.status_code == 200
    assert elapsed < 1.0  # 250 ms deadline, not a socket timeout per probe


def test_result_is_cached_per_process_for_about_two_seconds(client, settings):
    first = client.get("/api/health").json()
    settings.REDIS_CACHE_URL = "redis://127.0.0.1:1/11"

    cached = client.get("/api/health").json()
    health._cache["at"] -= health.HEALTH_CACHE_SECONDS  # the 2 s have passed
    fresh = client.get("/api/health").json()

    assert first["services"]["cache"] == cached["services"]["cache"] == "ok"
    assert fresh["services"]["cache"] == "down"


def test_queue_size_is_reported(client, settings):
    import redis

    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        broker.rpush("reminders", *[b"not-a-real-message"] * 4)
        body = client.get("/api/health").json()
    finally:
        broker.delete("reminders")
        broker.close()

    assert body["metrics"]["queue_size"] == 4


def test_live_has_no_dependencies(client, settings, monkeypatch, drain_file):
    monkeypatch.setitem(connections.settings["default"], "PORT", "1")
    settings.REDIS_URL = "redis://127.0.0.1:1/10"
    call_command("drain")

    response = client.get("/api/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "alive"}


def test_drain_makes_health_503_for_drain_seconds_while_traffic_succeeds(client, drain_file):
    with time_machine.travel(1_900_000_000, tick=False):
        call_command("drain")
        draining = client.get("/api/health")
        traffic = client.get("/api/health/live")

        assert draining.status_code == 503
        assert draining.json()["draining"] is True
        assert draining["Retry-After"] == "5"
        assert traffic.status_code == 200
        assert float(drain_file.read_text()) == 1_900_000_030

    with time_machine.travel(1_900_000_031, tick=False):
        assert client.get("/api/health").status_code == 200


def test_touched_drain_file_drains_from_its_mtime_and_cancel_ends_it(client, drain_file):
    drain_file.touch()
    assert client.get("/api/health").status_code == 503

    os.utime(drain_file, (time.time() - 31, time.time() - 31))
    assert client.get("/api/health").status_code == 200

    call_command("drain", seconds=60)
    assert client.get("/api/health").status_code == 503
    call_command("drain", cancel=True)
    assert not drain_file.exists()
    assert client.get("/api/health").status_code == 200


def _redis_reply(command: bytes) -> bytes:
    if b"HELLO" in command.upper():  # RESP3 handshake: a one-entry map
        return b"%1\r\n+proto\r\n:3\r\n"
    return b"+PONG\r\n" if b"PING" in command.upper() else b"+OK\r\n"


def test_a_dependency_answering_late_but_within_the_deadline_is_slow(client, settings, monkeypatch):
    import threading

    monkeypatch.setattr(health, "SLOW_PROBE_MS", 60)

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def serve() -> None:  # a Redis whose PING takes 120 ms
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                while data := conn.recv(4096):
                    if b"PING" in data.upper():
                        time.sleep(0.12)
                    conn.sendall(_redis_reply(data))

    threading.Thread(target=serve, daemon=True).start()
    try:
        settings.REDIS_CACHE_URL = f"redis://127.0.0.1:{listener.getsockname()[1]}/11"
        health._clients.clear()
        body = client.get("/api/health").json()
    finally:
        listener.close()

    assert body["services"]["cache"] == "slow"
    assert body["status"] == "degraded"


def test_a_queue_no_worker_consumes_is_down(client):
    from monitoring.consumers import consumer_forget

    consumer_forget(worker="test-worker@host", queues=["sync"])
    body = client.get("/api/health").json()
    assert body["services"]["queue"] == "down"
    assert body["metrics"]["consumers"]["sync"] == 0
    assert body["status"] == "degraded"


def test_a_worker_that_stopped_heartbeating_stops_counting(client):
    from config.celery import QUEUES
    from monitoring.consumers import CONSUMER_TTL_SECONDS, consumer_heartbeat_record

    consumer_heartbeat_record(worker="test-worker@host", queues=QUEUES, now=time.time() - 3600)
    body = client.get("/api/health").json()
    assert body["services"]["queue"] == "down"
    assert set(body["metrics"]["consumers"].values()) == {0}
    consumer_heartbeat_record(
        worker="other@host", queues=QUEUES, now=time.time() - CONSUMER_TTL_SECONDS / 2
    )
    health.health_cache_clear()
    assert client.get("/api/health").json()["services"]["queue"] == "ok"


def test_drain_wait_keeps_health_503_until_the_server_stops(client, drain_file):
    """After `drain --wait` the deploy SIGTERMs the server; a health flip back to 200 during
    the graceful shutdown would put a dying server back into rotation."""
    call_command("drain", seconds=0, wait=True)
    assert client.get("/api/health").status_code == 503
    with time_machine.travel(time.time() + 59, tick=False):
        assert client.get("/api/health").status_code == 503


def test_a_starting_web_server_clears_the_previous_drain(client, drain_file):
    import importlib.util
    from pathlib import Path
    from types import SimpleNamespace

    call_command("drain", seconds=0, wait=True)
    path = Path(__file__).resolve().parents[2] / "deploy" / "gunicorn.conf.py"
    spec = importlib.util.spec_from_file_location("gunicorn_conf_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    logged: list[str] = []
    module.when_ready(SimpleNamespace(log=SimpleNamespace(info=logged.append)))
    assert not drain_file.exists()
    assert logged == ["drain file of the previous run removed"]
    assert client.get("/api/health").status_code == 200
