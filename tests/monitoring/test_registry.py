"""Apps plug into monitoring by registration (AppConfig.ready): every registered gauge and
alert check runs for real here, so a renamed selector or a broken check fails this test
instead of silently switching a gauge or an alert off."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from monitoring import alerting, registry
from monitoring.models import AlertEvent
from monitoring.registry import AlertCheck

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 23, 12, 0, 30, tzinfo=UTC)
# `<area>.<condition>[:<subject>]`
ALERT_KEY = re.compile(r"^[a-z]+\.[a-z_]+(:[\w.-]+)?$")


def test_each_app_registers_its_gauges_and_alert_checks():
    assert set(registry.gauges_registered()) == {"outbox", "stats", "tasks"}
    assert set(registry.alert_checks_registered()) == {"requests", "queues", "databases", "sync"}


@pytest.mark.parametrize("name", sorted(registry.gauges_registered()))
def test_every_registered_gauge_runs_and_returns_a_json_section(name):
    gauge = registry.gauges_registered()[name]
    section = gauge.read()  # no wrapper here: a gauge that cannot run fails the test
    assert isinstance(section, dict)
    json.dumps(section, default=str)
    assert set(gauge.empty) <= set(section) or section == {}


@pytest.mark.parametrize("name", sorted(registry.alert_checks_registered()))
def test_every_registered_alert_check_runs_and_uses_the_key_scheme(name):
    checks = registry.alert_checks_registered()[name](NOW)
    assert all(isinstance(check, AlertCheck) for check in checks)
    assert [check.key for check in checks if not ALERT_KEY.match(check.key)] == []
    assert {check.level for check in checks} <= {"critical", "warning"}
    if name in ("requests", "databases", "sync"):
        assert checks  # these always report (queues reports none without a Redis broker)


def test_a_check_that_cannot_run_is_skipped_and_the_others_still_run(settings, caplog):
    settings.ALERT_ERRORS_PER_MINUTE = 10**9

    def broken(now: datetime) -> list[AlertCheck]:
        raise RuntimeError("selector renamed")

    registry.alert_check_register(name="broken", run=broken)
    try:
        result = alerting.alert_checks_evaluate(now=NOW)
    finally:
        registry._alert_checks.pop("broken")

    assert result["requests.error_rate"] == "ok"
    assert "sync.parked" in result
    assert "alert check skipped check=broken" in caplog.text
    assert not AlertEvent.objects.firing().exists()
