from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.test import override_settings

from core import limiter
from core.limiter import parse_policy, rate_limit_check


def test_policy_parsing_accepts_forms_and_rejects_garbage():
    assert parse_policy("x", "60/m") == limiter.Policy("x", 60, 60)
    assert parse_policy("x", "10/5m").period_seconds == 300
    assert parse_policy("x", "3600/hour").period_seconds == 3600
    with pytest.raises(ValueError):
        parse_policy("x", "sixty per minute")
    with pytest.raises(ValueError):
        parse_policy("x", "0/m")


@override_settings(RATE_LIMITS={"slow": "60/h", "default": "120/m"})
def test_redis_script_admits_exactly_the_burst_under_concurrency():
    """200 concurrent requests against 60/hour: no refill happens, so exactly 60 pass."""

    def one(_: int) -> bool:
        return rate_limit_check(scope="slow", subject="ip:203.0.113.9").is_allowed

    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(one, range(200)))
    assert results.count(True) == 60
    refused = rate_limit_check(scope="slow", subject="ip:203.0.113.9")
    assert not refused.is_allowed
    assert 59 <= refused.retry_after_seconds <= 60  # one emission interval (60 s) away
    # another subject has its own bucket
    assert rate_limit_check(scope="slow", subject="ip:203.0.113.10").is_allowed


@pytest.mark.parametrize("use_redis", [True, False])
def test_per_minute_arithmetic_with_injected_clock(use_redis, settings):
    """60/m: a burst of 60, then exactly one more per second."""
    if not use_redis:
        settings.REDIS_URL = ""
    t0 = 1_700_000_000_000
    decisions = [rate_limit_check(scope="stats", subject="s", now_ms=t0) for _ in range(61)]
    assert [d.is_allowed for d in decisions].count(True) == 60
    assert decisions[0].remaining == 59
    assert decisions[59].remaining == 0
    assert decisions[60].retry_after_seconds == 1
    # half a second later: still refused; a full second later: exactly one more
    assert not rate_limit_check(scope="stats", subject="s", now_ms=t0 + 500).is_allowed
    assert rate_limit_check(scope="stats", subject="s", now_ms=t0 + 1000).is_allowed
    assert not rate_limit_check(scope="stats", subject="s", now_ms=t0 + 1000).is_allowed
    # after a full idle minute the whole burst is back
    later = [rate_limit_check(scope="stats", subject="s", now_ms=t0 + 61_000) for _ in range(61)]
    assert [d.is_allowed for d in later].count(True) == 60


def test_headers_describe_the_decision():
    decision = rate_limit_check(scope="stats", subject="h", now_ms=1_700_000_000_000)
    headers = decision.headers()
    assert headers["X-RateLimit-Limit"] == "60"
    assert headers["X-RateLimit-Remaining"] == "59"
    assert headers["RateLimit-Policy"] == '"stats";q=60;w=60'
    assert headers["RateLimit"] == '"stats";r=59;t=1'
    assert "Retry-After" not in headers


def test_unreachable_redis_fails_open_for_public_scopes_and_closed_for_auth(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    decision = rate_limit_check(scope="stats", subject="ip:198.51.100.1")
    assert decision.is_allowed and decision.is_fallback
    with pytest.raises(limiter.LimiterUnavailable):
        rate_limit_check(scope="auth", subject="ip:198.51.100.1")
