"""System checks tagged `deploy`, and the same check for gunicorn/Celery start-up hooks.

The coordination Redis holds locks, limiter state, budgets and the Celery broker: an
evicting `maxmemory-policy` would silently drop them. Network I/O happens only when the
check runs (`check --deploy`, start-up hooks), never at import or in AppConfig.ready.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

logger = logging.getLogger(__name__)


def coordination_policy() -> str | None:
    """The coordination Redis maxmemory-policy, or None if unreadable."""
    from core.redis import redis_client_for

    try:
        reply = redis_client_for(settings.REDIS_URL).config_get("maxmemory-policy")
    except Exception as exc:  # any failure means "can't tell", reported as a warning
        logger.warning("could not read maxmemory-policy error=%s", exc)
        return None
    return reply.get("maxmemory-policy") if isinstance(reply, dict) else None


def check_coordination_policy() -> list[Any]:
    if not settings.REDIS_URL:
        return []
    policy = coordination_policy()
    if policy is None:
        return [
            Warning(
                "Could not read maxmemory-policy of the coordination Redis (REDIS_URL).",
                hint="Make sure CONFIG GET is allowed and Redis is reachable.",
                id="core.W001",
            )
        ]
    # volatile-* only evicts keys with a TTL; locks and counters carry TTLs, so require noeviction.
    if policy != "noeviction":
        message = (
            f"The coordination Redis evicts keys (maxmemory-policy={policy}); locks, limiter "
            "state, budgets and queued jobs could vanish."
        )
        hint = "Set maxmemory-policy noeviction on REDIS_URL; use REDIS_CACHE_URL for caches."
        if settings.DEBUG:
            return [Warning(message, hint=hint, id="core.W002")]
        return [Error(message, hint=hint, id="core.E001")]
    return []


@register(Tags.security)
def limiter_and_proxy_settings_check(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """Malformed RATE_LIMITS or TRUSTED_PROXIES would fail every request: refuse them at start."""
    from core.client_ip import networks_from
    from core.limiter import parse_policy

    errors: list[Any] = []
    if "default" not in settings.RATE_LIMITS:
        errors.append(Error("RATE_LIMITS needs a 'default' policy.", id="core.E002"))
    for scope, text in settings.RATE_LIMITS.items():
        try:
            parse_policy(scope, text)
        except ValueError as exc:
            errors.append(
                Error(str(exc), hint="Use e.g. '60/m', '10/5m', '3600/h'.", id="core.E003")
            )
    try:
        networks_from(settings.TRUSTED_PROXIES)
    except ValueError as exc:
        errors.append(
            Error(
                f"TRUSTED_PROXIES: {exc}",
                hint="Addresses or CIDRs, comma-separated.",
                id="core.E004",
            )
        )
    return errors


@register(Tags.caches, deploy=True)
def coordination_redis_policy_check(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    return check_coordination_policy()


def verify_at_startup(*, process: str) -> None:
    """Called from gunicorn/Celery start-up hooks: log problems, refuse to start on errors."""
    for message in check_coordination_policy():
        if isinstance(message, Error):
            raise SystemExit(f"{process}: {message.msg} {message.hint}")
        logger.warning("%s start-up check: %s", process, message.msg)
