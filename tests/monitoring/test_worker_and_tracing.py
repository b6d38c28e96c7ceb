from __future__ import annotations

import importlib.util
import logging
import socket

import httpx

from monitoring import celery_hooks, tracing
from monitoring.beat import beat_success_record
from monitoring.selectors import beat_success_get


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_worker_ready_serves_metrics_on_its_own_port(settings, monkeypatch):
    port = _free_port()
    settings.CELERY_WORKER_METRICS_PORT = port
    monkeypatch.setenv("CELERY_WORKER_METRICS_ADDR", "127.0.0.1")
    monkeypatch.setattr(celery_hooks, "_server_started_port", None)

    started = celery_hooks.start_worker_metrics_server()
    again = celery_hooks.start_worker_metrics_server()

    assert started == port and again == port
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    assert "stats_refresh_seconds_count" in text


def test_busy_worker_port_is_logged_not_fatal(settings, monkeypatch, caplog):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        settings.CELERY_WORKER_METRICS_PORT = busy.getsockname()[1]
        monkeypatch.setenv("CELERY_WORKER_METRICS_ADDR", "127.0.0.1")
        monkeypatch.setattr(celery_hooks, "_server_started_port", None)
        with caplog.at_level(logging.WARNING, logger="monitoring.celery_hooks"):
            assert celery_hooks.start_worker_metrics_server() is None
    assert "worker metrics port unavailable" in caplog.text


def test_beat_success_is_recorded_per_schedule_of_the_task():
    schedules = beat_success_record(task_name="monitoring.jobs.evaluate_alerts", now=1_800_000_000)
    unrelated = beat_success_record(task_name="tests.not.scheduled", now=1_800_000_000)

    assert schedules == ["monitoring-evaluate-alerts"]
    assert unrelated == []
    assert beat_success_get()["monitoring-evaluate-alerts"] == 1_800_000_000


def test_tracing_stays_off_without_the_package_even_when_enabled(settings, caplog):
    # OpenTelemetry is deliberately not a dependency of this project.
    assert importlib.util.find_spec("opentelemetry") is None
    settings.OTEL_ENABLED = True
    with caplog.at_level(logging.WARNING, logger="monitoring.tracing"):
        assert tracing.tracing_setup() == []
    assert "opentelemetry is not installed" in caplog.text


def test_tracing_off_by_default(settings):
    settings.OTEL_ENABLED = False
    assert tracing.tracing_setup() == []
