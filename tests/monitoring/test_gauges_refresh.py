from __future__ import annotations

import time

import pytest

from config.celery import QUEUES
from monitoring import aggregates, selectors
from monitoring.jobs import refresh_gauges

pytestmark = pytest.mark.django_db


def test_refresh_stores_a_snapshot_from_the_other_apps_selectors(client):
    now = time.time()
    for _ in range(5):
        aggregates.record_request(status=200, duration_ms=20, now=now)
    aggregates.record_request(status=502, duration_ms=20, now=now)
    aggregates.flush(now=now, force=True)

    refresh_gauges.apply()
    snapshot = selectors.snapshot_get()

    assert set(snapshot["queues"]) == set(QUEUES)
    assert "unsent" in snapshot["outbox"]["records_by_status"]  # syncqueue.selectors.sync_overview
    assert set(snapshot["outbox"]["budget_remaining"]) == {"batch", "single"}
    assert snapshot["stats"]["has_entry"] is False  # stats.selectors.stats_entry_status
    assert snapshot["health"]["services"]["database"] in ("ok", "slow")
    assert len(snapshot["series"]) == 60
    point = next(p for p in snapshot["series"] if p["t"] == int(now // 60) * 60)
    assert point["requests"] == 6
    assert point["error_rate"] == pytest.approx(1 / 6)

    text = client.get("/api/metrics").content.decode()
    assert 'outbox_records{status="unsent"} 0.0' in text
    assert "monitoring_snapshot_timestamp 0.0" not in text
