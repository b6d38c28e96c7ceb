"""A stalled or slow database fails requests within the request-path limits, and health
answers within its own budget, reporting "slow" (issue #13, defect 4)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import OperationalError, connection, connections

from config.database import (
    request_budget_install,
    request_budget_uninstall,
    request_timeouts_apply,
)
from core.errors import is_database_unavailable
from monitoring import health
from tests.factories import UserFactory, api_client_for

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def request_limits(database_proxy):
    """Short request-path limits on `default` for this test (1 s read, 0.5 s statement)."""
    options = connections.settings["default"]["OPTIONS"]
    saved = dict(options)
    request_timeouts_apply(
        databases={"default": connections.settings["default"]},
        read_seconds=1,
        write_seconds=1,
        statement_seconds=0.5,
    )
    connection.close()
    yield
    options.clear()
    options.update(saved)
    connection.close()


@pytest.mark.timeout(60)
def test_stalled_database_fails_the_request_with_503_not_a_hang(database_proxy, request_limits):
    user = UserFactory()
    client = api_client_for(user, raise_request_exception=False)
    connection.ensure_connection()  # an open, pooled connection, like a warm web worker's
    database_proxy.set_mode("stall")
    started = time.monotonic()
    response = client.get("/api/v1/tasks")
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"
    assert elapsed < 10, f"answered after {elapsed:.1f}s; the read timeout is 1 s"


def test_statement_limit_aborts_a_long_statement_as_unavailable(request_limits):
    with pytest.raises(OperationalError) as caught, connection.cursor() as cursor:
        cursor.execute("SELECT SLEEP(3)")
        cursor.fetchall()
    assert caught.value.args[0] == 1969  # max_statement_time exceeded
    assert is_database_unavailable(caught.value)


def test_web_entry_point_applies_the_limits_and_jobs_do_not():
    script = (
        "from django.conf import settings; import django; django.setup(); "
        "o = settings.DATABASES['default']['OPTIONS']; "
        "before = 'max_statement_time' in o.get('init_command', ''); "
        "import config.wsgi; "
        "print(before, o.get('read_timeout'), o.get('write_timeout'), "
        "o['init_command'].rsplit(', ', 1)[-1])"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.split() == ["False", "5", "5", "max_statement_time=4"], result.stderr


@pytest.mark.timeout(60)
def test_health_answers_in_its_budget_and_says_slow_when_the_database_stalls(database_proxy):
    database_proxy.set_mode("stall")
    started = time.monotonic()
    document, status = health.health_check(use_cache=False)
    elapsed = time.monotonic() - started
    assert document["services"]["database"] == "slow"
    assert document["status"] == "degraded"
    assert status == 200
    assert elapsed < 1.0  # the 250 ms probe deadline, not the 3 s connect timeout


@pytest.fixture
def request_budget(settings):
    settings.DB_REQUEST_BUDGET_SECONDS = 1.0
    request_budget_install()
    yield
    request_budget_uninstall()


@pytest.mark.timeout(60)
def test_slow_database_fails_the_request_once_its_budget_is_spent(database_proxy, request_budget):
    """600 ms each way: every statement takes 1.2 s and none hits a statement timeout, but
    the request's second statement would start past its 1 s budget."""
    client = api_client_for(UserFactory(), raise_request_exception=False)
    connection.ensure_connection()
    database_proxy.set_mode("latency", latency_ms=600)
    response = client.get("/api/v1/tasks")
    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"
    database_proxy.set_mode("pass")
    assert client.get("/api/v1/tasks").status_code == 200  # the next request has its own budget
