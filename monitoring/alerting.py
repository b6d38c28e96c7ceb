"""Alerting: fire / resolve, and the one evaluator that runs every registered alert check.

`alert_fire` and `alert_resolve` are the entry points other apps may call; they never raise.
An `AlertEvent` row per incident keeps the firing/resolved state in the database, so every
process agrees on what was already announced and the cooldown holds across restarts.
Alert keys read `<area>.<condition>[:<subject>]` (`requests.error_rate`, `queue.size:sync`,
`sync.parked`); each app registers its checks with `monitoring.registry`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from core import redis as coordination
from core.purge import rows_delete_in_chunks
from monitoring.channels import Notification, notify
from monitoring.models import AlertEvent
from monitoring.registry import alert_checks_registered

logger = logging.getLogger(__name__)

PRIMARY = "default"  # alert state is written and read where the writes are
PURGE_CHUNK_SIZE = 1000  # one short DELETE per chunk keeps row locks brief on MariaDB
# Callers may say "error"/"info"; channels know only critical and warning.
LEVEL_ALIASES = {"error": "critical", "fatal": "critical", "info": "warning"}


# --------------------------------------------------------------------------- fire / resolve


def alert_fire(
    *,
    key: str,
    title: str,
    message: str,
    level: str = "warning",
    now: datetime | None = None,
) -> bool:
    """Raise (or keep raising) the alert `key`; sends to Slack/Discord outside its cooldown.

    The first firing sends unless a message for `key` went out within ALERT_COOLDOWN_SECONDS
    (flapping); a still-firing alert is re-sent once per cooldown. Returns whether a message
    was sent. Never raises: a webhook or database failure is logged.
    """
    try:
        return _alert_fire(key=key, title=title, message=message, level=level, now=now)
    except Exception:
        logger.exception("alert_fire failed key=%s", key)
        return False


def _alert_fire(*, key: str, title: str, message: str, level: str, now: datetime | None) -> bool:
    now = now or timezone.now()
    level = LEVEL_ALIASES.get(level, level)
    level = level if level in AlertEvent.Level.values else AlertEvent.Level.WARNING
    cooldown = timedelta(seconds=settings.ALERT_COOLDOWN_SECONDS)
    with transaction.atomic(using=PRIMARY):
        event = AlertEvent.objects.using(PRIMARY).select_for_update().filter(open_key=key).first()
        if event is None:
            try:
                with transaction.atomic(using=PRIMARY):
                    event = AlertEvent.objects.using(PRIMARY).create(
                        key=key,
                        open_key=key,
                        title=title,
                        message=message,
                        level=level,
                        fired_at=now,
                        last_seen_at=now,
                    )
            except IntegrityError:  # another process opened it first: join that incident
                event = AlertEvent.objects.using(PRIMARY).select_for_update().get(open_key=key)
                event.occurrences += 1
        else:
            event.occurrences += 1
        event.title, event.message, event.level, event.last_seen_at = title, message, level, now
        last_sent = (
            AlertEvent.objects.using(PRIMARY)
            .filter(key=key)
            .aggregate(last=Max("notified_at"))["last"]
        )
        should_send = last_sent is None or now - last_sent >= cooldown
        if should_send:
            event.notified_at = now
        event.save(using=PRIMARY)
    if should_send:
        logger.warning("alert firing key=%s level=%s title=%s", key, level, title)
        notify(
            Notification(
                key=key, title=title, message=message, level=level, is_resolved=False, at=now
            )
        )
    return should_send


def alert_resolve(*, key: str, now: datetime | None = None) -> bool:
    """Clear the alert `key`; sends a "resolved" message if its firing was announced.

    Returns whether a message was sent. Safe to call when nothing fires. Never raises.
    """
    try:
        now = now or timezone.now()
        with transaction.atomic(using=PRIMARY):
            event = (
                AlertEvent.objects.using(PRIMARY).select_for_update().filter(open_key=key).first()
            )
            if event is None:
                return False
            event.state = AlertEvent.State.RESOLVED
            event.open_key = None
            event.resolved_at = now
            event.save(using=PRIMARY)
        if event.notified_at is None:
            return False
        logger.info("alert resolved key=%s", key)
        notify(
            Notification(
                key=key,
                title=event.title,
                message=f"Resolved after {_duration(now - event.fired_at)}. {event.message}",
                level=event.level,
                is_resolved=True,
                at=now,
            )
        )
        return True
    except Exception:
        logger.exception("alert_resolve failed key=%s", key)
        return False


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def alert_events_purge(*, now: datetime | None = None) -> int:
    """Delete resolved alert events older than ALERT_EVENT_RETENTION_DAYS; returns the count."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.ALERT_EVENT_RETENTION_DAYS)
    return rows_delete_in_chunks(
        AlertEvent.objects.using(PRIMARY).filter(
            state=AlertEvent.State.RESOLVED, resolved_at__lt=cutoff
        ),
        chunk_size=PURGE_CHUNK_SIZE,
    )


# --------------------------------------------------------------------------- evaluation


def alert_checks_evaluate(*, now: datetime | None = None) -> dict[str, str]:
    """Run every registered alert check once (the beat job): fire what fires, resolve the rest.

    Each check fires at its threshold (value >= threshold) and resolves below it, the same as
    deploy/prometheus/rules/alerts.yml. A check that raises (its input is unavailable) is
    logged and skipped: its alerts are neither fired nor resolved. Returns key -> "firing" | "ok".
    """
    now = now or timezone.now()
    result: dict[str, str] = {}
    for name, run in alert_checks_registered().items():
        try:
            checks = run(now)
        except coordination.CoordinationUnavailable as exc:
            logger.warning("alert check skipped check=%s error=%s", name, exc)
            continue
        except Exception:
            logger.exception("alert check skipped check=%s", name)
            continue
        for check in checks:
            if check.is_firing:
                alert_fire(
                    key=check.key,
                    title=check.title,
                    message=check.message,
                    level=check.level,
                    now=now,
                )
            else:
                alert_resolve(key=check.key, now=now)
            result[check.key] = "firing" if check.is_firing else "ok"
    return result
