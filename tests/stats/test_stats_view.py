"""GET /api/stats: body, headers, ETag/304 and the limiter decided in the entry script."""

from __future__ import annotations

import json
import re

import pytest
import time_machine
from prometheus_client import REGISTRY

from stats import keys
from tests.stats.conftest import redis_raw, store_entry

URL = "/api/stats"
RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "RateLimit", "RateLimit-Policy")


def _sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


@pytest.mark.django_db
def test_cold_request_computes_and_returns_the_contract_body(client, orders):
    response = client.get(URL)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert body["users"] == 3
    assert body["orders"] == "61.50"
    assert body["orders_count"] == 4
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["generated_at"])
    assert response["X-Cache"] == "MISS"
    assert redis_raw().hget(keys.ENTRY_KEY, "body") == response.content
    assert redis_raw().hget(keys.LKG_KEY, "body") == response.content


@pytest.mark.django_db
def test_no_orders_reports_zero_as_decimal_string(client):
    body = json.loads(client.get(URL).content)

    assert body["orders"] == "0.00"
    assert body["orders_count"] == 0


@pytest.mark.django_db
def test_hit_headers_are_cacheable_and_carry_no_per_client_fields(client, orders):
    snapshot = store_entry(age_seconds=100)
    hits_before = _sample("stats_cache_hits_total")

    response = client.get(URL)

    assert response.status_code == 200
    assert response["X-Cache"] == "HIT"
    assert response.content == snapshot.body
    assert response["ETag"] == snapshot.etag and response["ETag"].startswith('"')
    assert 100 <= int(response["X-Cache-Age"]) <= 101
    cache_control = dict(
        part.strip().split("=") for part in response["Cache-Control"].split(",")[1:]
    )
    assert response["Cache-Control"].startswith("public, ")
    # 200 s of freshness left, capped at 60 for shared caches.
    assert cache_control["max-age"] == "60"
    assert int(cache_control["stale-while-revalidate"]) > 0
    assert int(cache_control["stale-if-error"]) > 0
    assert "Age" not in response
    assert "Set-Cookie" not in response
    assert "Cookie" not in response.get("Vary", "")
    assert not any(name in response for name in RATE_HEADERS)
    assert _sample("stats_cache_hits_total") == hits_before + 1


@pytest.mark.django_db
def test_max_age_never_exceeds_remaining_freshness(client, orders):
    store_entry(age_seconds=290)  # 10 s of freshness left

    response = client.get(URL)

    max_age = int(re.search(r"max-age=(\d+)", response["Cache-Control"]).group(1))
    assert 0 < max_age <= 10


@pytest.mark.django_db
def test_matching_if_none_match_answers_304_without_body(client, orders):
    snapshot = store_entry(age_seconds=5)

    response = client.get(URL, HTTP_IF_NONE_MATCH=snapshot.etag)
    weak = client.get(URL, HTTP_IF_NONE_MATCH=f'"other", W/{snapshot.etag}')
    other = client.get(URL, HTTP_IF_NONE_MATCH='"something-else"')

    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == snapshot.etag
    assert response["Cache-Control"].startswith("public, max-age=")
    assert weak.status_code == 304
    assert other.status_code == 200 and other.content == snapshot.body


@pytest.mark.django_db
def test_limit_is_exact_per_ip_and_429_is_problem_json_not_cacheable(client, orders):
    store_entry(age_seconds=1)
    with time_machine.travel("2026-01-01 12:00:00Z", tick=False):
        statuses = [client.get(URL, REMOTE_ADDR="198.51.100.7").status_code for _ in range(61)]
        refused = client.get(URL, REMOTE_ADDR="198.51.100.7")
        other_ip = client.get(URL, REMOTE_ADDR="198.51.100.8")

    assert statuses[:60] == [200] * 60  # 60/m admits a burst of exactly 60
    assert statuses[60] == 429
    assert refused.status_code == 429
    assert refused["Content-Type"] == "application/problem+json"
    assert json.loads(refused.content)["status"] == 429
    assert refused["Cache-Control"] == "no-store"
    assert int(refused["Retry-After"]) >= 1
    assert refused["X-RateLimit-Limit"] == "60"
    assert refused["X-RateLimit-Remaining"] == "0"
    assert "ETag" not in refused and "X-Cache" not in refused
    assert other_ip.status_code == 200


@pytest.mark.django_db
def test_limit_window_refills_after_the_emission_interval(client, orders, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "stats": "3/h"}
    store_entry(age_seconds=1)
    with time_machine.travel("2026-01-01 12:00:00Z", tick=False) as traveller:
        first = [client.get(URL).status_code for _ in range(4)]
        traveller.shift(1199)  # one token every 1,200 s
        still_refused = client.get(URL).status_code
        traveller.shift(2)
        refilled = client.get(URL).status_code

    assert first == [200, 200, 200, 429]
    assert still_refused == 429
    assert refilled == 200


@pytest.mark.django_db
def test_forged_forwarded_for_from_untrusted_peer_is_ignored(client, orders, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "stats": "2/h"}
    store_entry(age_seconds=1)

    statuses = [
        client.get(URL, REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}").status_code
        for n in range(3)
    ]

    assert statuses == [200, 200, 429]
    assert redis_raw().exists("core:v1:rl:stats:ip:203.0.113.9")


@pytest.mark.django_db
def test_forwarded_for_from_trusted_proxy_keys_each_client(client, orders, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "stats": "2/h"}
    store_entry(age_seconds=1)

    def get(forwarded: str) -> int:
        return client.get(URL, REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR=forwarded).status_code

    first_client = [get("192.0.2.1") for _ in range(3)]
    second_client = get("6.6.6.6, 192.0.2.2")  # left-most entry is the client's own claim

    assert first_client == [200, 200, 429]
    assert second_client == 200
    assert redis_raw().exists("core:v1:rl:stats:ip:192.0.2.2")
    assert not redis_raw().exists("core:v1:rl:stats:ip:6.6.6.6")


@pytest.mark.django_db
def test_other_methods_are_405_problem_json(client):
    response = client.post(URL)

    assert response.status_code == 405
    assert response["Content-Type"] == "application/problem+json"
    assert response["Allow"] == "GET, HEAD"


@pytest.mark.django_db
def test_head_answers_like_get(client, orders):
    snapshot = store_entry(age_seconds=1)

    response = client.head(URL)

    assert response.status_code == 200
    assert response["ETag"] == snapshot.etag


@pytest.mark.django_db
def test_disabled_limiter_admits_everything_and_still_serves_the_entry(client, orders, settings):
    settings.RATE_LIMIT_ENABLED = False
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "stats": "1/h"}
    snapshot = store_entry(age_seconds=1)

    responses = [client.get(URL) for _ in range(5)]

    assert [r.status_code for r in responses] == [200] * 5
    assert all(r.content == snapshot.body for r in responses)
    assert not redis_raw().exists("core:v1:rl:stats:ip:127.0.0.1")
