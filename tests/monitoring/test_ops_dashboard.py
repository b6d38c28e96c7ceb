from __future__ import annotations

import json
import time

import pytest

from core import redis as coordination
from monitoring import keys
from monitoring.models import AlertEvent
from tests.factories import UserFactory

SNAPSHOT = {
    "queues": {"default": 4242, "urgent": 3, "reminders": 0, "sync": 17},
    "outbox": {
        "records_by_status": {"pending": 321, "failed": 9},
        "oldest_unsent_seconds": 654,
        "budget_remaining": {"batch": 48, "single": 3599},
    },
    "stats": {"has_entry": True, "age_seconds": 73, "is_stale": False},
    "health": {
        "status": "degraded",
        "services": {
            "database": "ok",
            "replicas": "not_configured",
            "cache": "down",
            "coordination": "ok",
            "queue": "ok",
        },
        "metrics": {"queue_size": 4262},
    },
    "series": [
        {
            "t": 1_800_000_000 + 60 * i,
            "requests": 10 + i,
            "p95_ms": 50.0,
            "error_rate": 0.0,
            "cache_hit_ratio": 0.9,
        }
        for i in range(60)
    ],
}


@pytest.fixture
def snapshot_stored():
    coordination.value_set(keys.SNAPSHOT_KEY, json.dumps({**SNAPSHOT, "refreshed_at": time.time()}))


@pytest.mark.django_db
def test_anonymous_is_sent_to_the_admin_login(client):
    response = client.get("/ops/")

    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/ops/"


@pytest.mark.django_db
def test_member_gets_403(client):
    client.force_login(UserFactory(role="member"))

    assert client.get("/ops/").status_code == 403
    assert client.get("/ops/data.json").status_code == 403


@pytest.mark.django_db
def test_staff_sees_the_precomputed_numbers(
    client, admin_user, snapshot_stored, django_assert_max_num_queries
):
    AlertEvent.objects.create(
        key="requests.error_rate",
        open_key="requests.error_rate",
        title="High Error Rate",
        level="critical",
        fired_at="2026-11-23T10:00:00Z",
        last_seen_at="2026-11-23T10:00:00Z",
    )
    client.force_login(admin_user)

    with django_assert_max_num_queries(3):  # session, user, recent alerts: nothing heavy
        response = client.get("/ops/")

    assert response.status_code == 200
    html = response.content.decode()
    for text in (
        'data-queue="default">4242<',
        'data-outbox="pending">321<',
        "654 s",
        'data-budget="batch">48<',
        ">73<",
        'data-service="cache">down<',
        "High Error Rate",
    ):
        assert text in html, text
    assert "/static/monitoring/ops.js" in html and "cdn" not in html.lower()

    data = client.get("/ops/data.json").json()
    assert data["queues"]["default"] == 4242
    assert len(data["series"]) == 60
    assert data["alerts"][0]["state"] == "firing"
