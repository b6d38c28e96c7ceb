from __future__ import annotations

import json
import re

import pytest

from core import redis as coordination
from monitoring import keys, metrics

REQUIRED_SERIES = (
    "http_requests_total",
    "http_request_duration_milliseconds_bucket",
    "database_connections",
    "cache_hit_ratio",
    "cache_requests_total",
    "queue_jobs_pending",
    "memory_usage_bytes",
    "rate_limited_total",
    "limiter_fail_open_total",
    "cache_flight_total",
    "stats_refresh_seconds_count",
    "stats_entry_age_seconds",
    "outbox_records",
    "outbox_oldest_unsent_seconds",
    "provider_budget_remaining",
    "beat_last_success_timestamp",
)


def _sample(text: str, name: str, **labels: str) -> float | None:
    """Value of the sample `name{labels}` in exposition text (label order-insensitive)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        match = re.match(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        if found == labels:
            return float(match.group(3))
    return None


def test_metrics_from_allowed_network_has_every_required_series_before_use(client):
    response = client.get("/api/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    for name in REQUIRED_SERIES:
        assert re.search(rf"^{name}[{{ ]", text, re.MULTILINE), name
    # pre-initialised label sets: present at zero before anything was limited or queued
    assert _sample(text, "rate_limited_total", scope="stats") == 0.0
    assert _sample(text, "limiter_fail_open_total", scope="auth") == 0.0
    assert _sample(text, "cache_flight_total", result="unavailable") is not None
    assert _sample(text, "queue_jobs_pending", queue="sync") == 0.0
    assert _sample(text, "provider_budget_remaining", kind="batch") is not None
    assert _sample(text, "beat_last_success_timestamp", schedule="sync-tick") == 0.0
    assert (
        _sample(text, "http_requests_total", method="GET", route="/api/health", status="500") == 0.0
    )


def test_metrics_outside_allowed_networks_is_403_problem_json(client, settings):
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]

    response = client.get("/api/metrics")

    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "permission_denied"
    assert b"http_requests_total" not in response.content


def test_forged_forwarded_for_from_untrusted_peer_is_refused(client, settings):
    settings.TRUSTED_PROXIES = []

    response = client.get(
        "/api/metrics", REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR="127.0.0.1"
    )

    assert response.status_code == 403


def test_bearer_token_admits_a_scraper_outside_the_networks(client, settings):
    settings.METRICS_ALLOWED_NETWORKS = []
    settings.METRICS_BEARER_TOKEN = "scrape-secret-123"

    accepted = client.get("/api/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret-123")
    refused = client.get("/api/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret-124")

    assert accepted.status_code == 200
    assert b"http_requests_total" in accepted.content
    assert refused.status_code == 403


@pytest.mark.django_db
def test_route_label_is_the_template_never_the_raw_path(client):
    client.get("/admin/accounts/user/987654/change/")
    client.get("/no-such-page/123456")

    text = client.get("/api/metrics").content.decode()

    assert "987654" not in text and "123456" not in text
    route = "/admin/accounts/user/<path:object_id>/change/"
    assert _sample(text, "http_requests_total", method="GET", route=route, status="302") >= 1
    assert (
        _sample(text, "http_requests_total", method="GET", route="<unmatched>", status="404") >= 1
    )


def test_limiter_helpers_count_by_scope(client):
    before = client.get("/api/metrics").content.decode()
    metrics.rate_limited(scope="tasks")
    metrics.rate_limited(scope="tasks")
    metrics.limiter_fail_open(scope="stats")

    after = client.get("/api/metrics").content.decode()

    tasks_before = _sample(before, "rate_limited_total", scope="tasks")
    assert _sample(after, "rate_limited_total", scope="tasks") == tasks_before + 2
    stats_before = _sample(before, "limiter_fail_open_total", scope="stats")
    assert _sample(after, "limiter_fail_open_total", scope="stats") == stats_before + 1


def test_cache_hit_ratio_derives_from_the_counters(client):
    for _ in range(3):
        metrics.cache_request(cache="ratio-test", is_hit=True)
    metrics.cache_request(cache="ratio-test", is_hit=False)

    text = client.get("/api/metrics").content.decode()

    assert _sample(text, "cache_requests_total", cache="ratio-test", result="hit") == 3.0
    assert _sample(text, "cache_hit_ratio", cache="ratio-test") == 0.75


def test_snapshot_gauges_are_read_from_the_precomputed_snapshot(client):
    snapshot = {
        "refreshed_at": 1_800_000_000,
        "queues": {"default": 7, "urgent": 0, "reminders": 2, "sync": 1},
        "outbox": {
            "records_by_status": {"pending": 11, "failed": 3},
            "oldest_unsent_seconds": 95.5,
            "budget_remaining": {"batch": 42, "single": 3500},
        },
        "stats": {"has_entry": True, "age_seconds": 12, "is_stale": False},
    }
    coordination.value_set(keys.SNAPSHOT_KEY, json.dumps(snapshot))
    coordination.call(lambda r: r.hset(keys.BEAT_SUCCESS_KEY, "sync-tick", 1_799_999_990))

    text = client.get("/api/metrics").content.decode()

    assert _sample(text, "queue_jobs_pending", queue="default") == 7.0
    assert _sample(text, "outbox_records", status="failed") == 3.0
    assert _sample(text, "outbox_oldest_unsent_seconds") == 95.5
    assert _sample(text, "provider_budget_remaining", kind="batch") == 42.0
    assert _sample(text, "stats_entry_age_seconds") == 12.0
    assert _sample(text, "beat_last_success_timestamp", schedule="sync-tick") == 1_799_999_990.0
