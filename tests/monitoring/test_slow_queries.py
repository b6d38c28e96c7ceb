from __future__ import annotations

import logging

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from core.context import request_id_var
from monitoring import aggregates, slow_queries
from monitoring.models import AlertEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def every_query_is_slow(settings):
    settings.SLOW_QUERY_MS = 0
    token = request_id_var.set("req-slowtest-0001")
    yield
    request_id_var.reset(token)


def _slow_records(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "monitoring.slow_query"]


def test_wrapper_is_installed_on_the_connection():
    connection.ensure_connection()
    assert slow_queries.slow_query_wrapper in connection.execute_wrappers


def test_slow_query_logged_with_sql_duration_request_id_and_redacted_params(
    every_query_is_slow, caplog
):
    with caplog.at_level(logging.WARNING, logger="monitoring.slow_query"):
        AlertEvent.objects.filter(key="needle-value").count()

    messages = [m for m in _slow_records(caplog) if "monitoring_alertevent" in m]
    assert messages, _slow_records(caplog)
    assert "request_id=req-slowtest-0001" in messages[0]
    assert "duration_ms=" in messages[0]
    assert "params=[redacted]" in messages[0]
    assert "needle-value" not in messages[0]


def test_params_shown_when_enabled_but_never_for_user_tables(every_query_is_slow, settings, caplog):
    settings.SLOW_QUERY_LOG_PARAMS = True
    with caplog.at_level(logging.WARNING, logger="monitoring.slow_query"):
        AlertEvent.objects.filter(key="visible-value").count()
        get_user_model().objects.filter(email="secret@example.com").exists()

    messages = _slow_records(caplog)
    alert_lines = [m for m in messages if "monitoring_alertevent" in m]
    user_lines = [m for m in messages if "accounts_user" in m]
    assert "visible-value" in alert_lines[0]
    assert user_lines and all("secret@example.com" not in m for m in user_lines)
    assert all("params=[redacted]" in m for m in user_lines)


def test_fast_queries_are_not_logged(settings, caplog):
    settings.SLOW_QUERY_MS = 10_000
    with caplog.at_level(logging.WARNING, logger="monitoring.slow_query"):
        AlertEvent.objects.count()

    assert _slow_records(caplog) == []


def test_slow_queries_reach_the_dashboard_list(every_query_is_slow):
    AlertEvent.objects.filter(key="listed").count()
    aggregates.flush(force=True)

    recent = aggregates.slow_queries_read()

    assert any("monitoring_alertevent" in entry["sql"] for entry in recent)
    assert all(entry["request_id"] == "req-slowtest-0001" for entry in recent)
