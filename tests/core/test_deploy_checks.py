"""`check --deploy` with production settings, and the coordination-Redis eviction check."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import throwaway_redis

ROOT = Path(__file__).resolve().parents[2]


def _production_env(**extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "CELERY_"))
    }
    env.update(
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(64),
        JWT_SIGNING_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="api.example.com",
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    env.update(extra)
    return env


def _check(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def evicting_redis() -> Iterator[str]:
    """A throwaway redis-server with an evicting policy."""
    with throwaway_redis(
        "--save",
        "",
        "--appendonly",
        "no",
        "--maxmemory",
        "16mb",
        "--maxmemory-policy",
        "allkeys-lru",
    ) as client:
        yield f"redis://127.0.0.1:{client.connection_pool.connection_kwargs['port']}/0"


def test_check_deploy_is_clean_with_production_settings():
    result = _check(_production_env(REDIS_URL=os.environ["REDIS_URL"]))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues (0 silenced)" in result.stdout


def test_evicting_coordination_redis_is_an_error_in_production(evicting_redis):
    result = _check(_production_env(REDIS_URL=evicting_redis))
    assert result.returncode != 0
    assert "core.E001" in result.stderr + result.stdout


def test_unreadable_coordination_redis_is_a_warning():
    result = _check(_production_env(REDIS_URL="redis://127.0.0.1:1/0"))
    assert "core.W001" in result.stderr + result.stdout


def test_production_refuses_to_start_without_secret_key():
    env = _production_env()
    env.pop("SECRET_KEY")
    result = _check(env)
    assert result.returncode != 0
    assert "SECRET_KEY is required" in result.stderr


def test_malformed_rate_limits_and_proxies_are_refused_at_start():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=_production_env(RATE_LIMIT_STATS="60/0m", TRUSTED_PROXIES="10.0.0.0/8,not-a-network"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "core.E003" in result.stderr and "core.E004" in result.stderr
