"""Alerting (fire / resolve / evaluate thresholds), gauge snapshots and beat bookkeeping.

`alert_fire` and `alert_resolve` are the entry points other apps call; they never raise.
An `AlertEvent` row per incident keeps the firing/resolved state in the database, so every
process agrees on what was already announced and the cooldown holds across restarts.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from core import redis as coordination
from monitoring import aggregates, keys
from monitoring.channels import Notification, notify
from monitoring.models import AlertEvent

logger = logging.getLogger(__name__)

PRIMARY = "default"  # alert state is written and read where the writes are
PURGE_CHUNK_SIZE = 1000  # one short DELETE per chunk keeps row locks brief on MariaDB
# Outbox statuses that count as done (anything else is backlog).
OUTBOX_DONE_STATUSES = frozenset({"sent", "superseded", "delivered", "done", "skipped"})
OUTBOX_FAILED_STATUSES = frozenset({"failed", "parked", "dead"})
# Callers may say "error"/"info"; channels know only critical and warning.
LEVEL_ALIASES = {"error": "critical", "fatal": "critical", "info": "warning"}
# kombu's Redis transport keeps priorities 3/6/9 of a queue in sibling lists.
_PRIORITY_SEPARATOR = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)


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
    deleted = 0
    while True:
        ids = list(
            AlertEvent.objects.using(PRIMARY)
            .filter(state=AlertEvent.State.RESOLVED, resolved_at__lt=cutoff)
            .order_by("pk")
            .values_list("pk", flat=True)[:PURGE_CHUNK_SIZE]
        )
        if not ids:
            return deleted
        deleted += AlertEvent.objects.using(PRIMARY).filter(pk__in=ids).delete()[0]


# --------------------------------------------------------------------------- threshold evaluation


@dataclass(frozen=True)
class Check:
    key: str
    title: str
    level: str
    is_firing: bool
    message: str


class AlertingService:
    """Compares the current numbers with the ALERT_* thresholds and fires or resolves.

    Each check fires at its threshold (value >= threshold) and resolves below it, the same
    as deploy/prometheus/rules/alerts.yml. A check whose input is unavailable is skipped
    (neither fired nor resolved), except the database probe, whose failure is the alert.
    """

    def __init__(self, *, now: datetime | None = None) -> None:
        self.now = now or timezone.now()

    def checks(self) -> list[Check]:
        found: list[Check] = []
        found += self._request_checks()
        found += self._queue_checks()
        found += self._database_checks()
        found += self._outbox_checks()
        return found

    def evaluate(self) -> dict[str, str]:
        """Run every check; returns key -> "firing" | "ok"."""
        result: dict[str, str] = {}
        for check in self.checks():
            if check.is_firing:
                alert_fire(
                    key=check.key,
                    title=check.title,
                    message=check.message,
                    level=check.level,
                    now=self.now,
                )
            else:
                alert_resolve(key=check.key, now=self.now)
            result[check.key] = "firing" if check.is_firing else "ok"
        return result

    def _request_checks(self) -> list[Check]:
        # The last complete minute, summed over every process's flushed aggregates.
        minute = int(self.now.timestamp() // 60) - 1
        try:
            fields = aggregates.minutes_read(first_minute=minute, last_minute=minute).get(
                minute, {}
            )
        except coordination.CoordinationUnavailable:
            logger.warning("alert request checks skipped: coordination redis down")
            return []
        errors = int(fields.get("errors", 0))  # 5xx only: a flood of 429s is not an error
        requests = fields.get("requests", 0.0)
        average_ms = fields.get("duration_ms_sum", 0.0) / requests if requests else 0.0
        return [
            Check(
                key="high_error_rate",
                title="High Error Rate",
                level="critical",
                is_firing=errors >= settings.ALERT_ERRORS_PER_MINUTE,
                message=(
                    f"{errors} server errors (5xx) in the last minute "
                    f"(threshold {settings.ALERT_ERRORS_PER_MINUTE}/min)."
                ),
            ),
            Check(
                key="slow_response",
                title="Slow Response",
                level="warning",
                is_firing=requests > 0 and average_ms >= settings.ALERT_RESPONSE_TIME_MS,
                message=(
                    f"Average response time {average_ms:.0f} ms over {int(requests)} requests "
                    f"in the last minute (threshold {settings.ALERT_RESPONSE_TIME_MS} ms)."
                ),
            ),
        ]

    def _queue_checks(self) -> list[Check]:
        sizes = queue_sizes()
        return [
            Check(
                key=f"high_queue_size:{queue}",
                title="High Queue Size",
                level="warning",
                is_firing=size >= settings.ALERT_QUEUE_SIZE,
                message=(
                    f"Queue '{queue}' has {size} pending jobs "
                    f"(threshold {settings.ALERT_QUEUE_SIZE})."
                ),
            )
            for queue, size in sorted(sizes.items())
        ]

    def _database_checks(self) -> list[Check]:
        from monitoring import health

        found = []
        for alias in [PRIMARY, *settings.DATABASE_REPLICAS]:
            outcome = health.probe_run(lambda a=alias: health.probe_database(alias=a))
            found.append(
                Check(
                    key=f"database:{alias}",
                    title="Database Issue",
                    level="critical",
                    is_firing=outcome == "down",
                    message=f"Database '{alias}' did not answer SELECT 1 within "
                    f"{int(health.PROBE_TIMEOUT_SECONDS * 1000)} ms.",
                )
            )
        return found

    def _outbox_checks(self) -> list[Check]:
        overview = _optional_selector("syncqueue.selectors", "sync_overview")
        if not overview:
            return []
        by_status = overview.get("records_by_status") or {}
        backlog = sum(
            int(count) for status, count in by_status.items() if status not in OUTBOX_DONE_STATUSES
        )
        failed = sum(
            int(count) for status, count in by_status.items() if status in OUTBOX_FAILED_STATUSES
        )
        return [
            Check(
                key="sync_backlog",
                title="Sync backlog",
                level="warning",
                is_firing=backlog >= settings.ALERT_OUTBOX_BACKLOG,
                message=f"{backlog} outbox rows not yet sent "
                f"(threshold {settings.ALERT_OUTBOX_BACKLOG}).",
            ),
            # The backlog's age, parked rows and spent budgets are alerted by syncqueue's own
            # sweep (syncqueue.services.maintenance), with the same ALERT_* thresholds.
            Check(
                key="sync_failures",
                title="Sync failures",
                level="critical",
                is_firing=failed >= settings.ALERT_OUTBOX_FAILED,
                message=f"{failed} outbox rows failed or parked "
                f"(threshold {settings.ALERT_OUTBOX_FAILED}).",
            ),
        ]


def alerts_evaluate(*, now: datetime | None = None) -> dict[str, str]:
    """Evaluate every threshold once (the beat job); returns key -> "firing" | "ok"."""
    return AlertingService(now=now).evaluate()


# --------------------------------------------------------------------------- gauges snapshot


def _optional_selector(module_name: str, function_name: str) -> dict[str, Any] | None:
    """Call another app's public selector if that app provides it; None if absent or failing."""
    import importlib

    try:
        module = importlib.import_module(module_name)
        function = getattr(module, function_name)
    except (ImportError, AttributeError):
        return None
    try:
        result = function()
    except Exception:
        logger.exception("gauge selector failed selector=%s.%s", module_name, function_name)
        return None
    return result if isinstance(result, dict) else None


def queue_sizes(*, queues: tuple[str, ...] | None = None) -> dict[str, int]:
    """Pending jobs per Celery queue on the broker Redis (LLEN, priorities included).

    Empty when the broker is not Redis (eager mode) or unreachable.
    """
    from config.celery import QUEUES
    from monitoring import health

    names = queues or QUEUES
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return {}
    try:
        client = health.probe_client(url)
        pipe = client.pipeline(transaction=False)
        for queue in names:
            pipe.llen(queue)
            for step in _PRIORITY_STEPS:
                pipe.llen(f"{queue}{_PRIORITY_SEPARATOR}{step}")
        lengths = pipe.execute()
    except Exception as exc:
        logger.warning("queue size read failed error=%s", exc)
        return {}
    per_queue = 1 + len(_PRIORITY_STEPS)
    return {
        queue: int(sum(lengths[index * per_queue : (index + 1) * per_queue]))
        for index, queue in enumerate(names)
    }


def request_series(*, now: float | None = None, minutes: int = 60) -> list[dict[str, Any]]:
    """Per-minute requests, p95 latency, error rate and cache hit ratio for the last hour."""
    current = int((now if now is not None else time.time()) // 60)
    first = current - minutes + 1
    try:
        rows = aggregates.minutes_read(first_minute=first, last_minute=current)
    except coordination.CoordinationUnavailable:
        rows = {}
    series = []
    for minute in range(first, current + 1):
        fields = rows.get(minute, {})
        requests = fields.get("requests", 0.0)
        lookups = fields.get("cache_hit", 0.0) + fields.get("cache_miss", 0.0)
        series.append(
            {
                "t": minute * 60,
                "requests": int(requests),
                "p95_ms": aggregates.latency_percentile(fields, quantile=0.95),
                "error_rate": fields.get("errors", 0.0) / requests if requests else 0.0,
                "cache_hit_ratio": fields.get("cache_hit", 0.0) / lookups if lookups else None,
            }
        )
    return series


def gauges_refresh(*, now: float | None = None) -> dict[str, Any]:
    """Recompute the snapshot that /api/metrics and /ops/ read, and store it.

    Reads the other apps' public selectors (each optional), the broker's queue lengths,
    the health probes and the last hour of request aggregates. Idempotent.
    """
    from monitoring import health

    moment = now if now is not None else time.time()
    snapshot: dict[str, Any] = {
        "refreshed_at": moment,
        "queues": queue_sizes(),
        "outbox": _optional_selector("syncqueue.selectors", "sync_overview") or {},
        "stats": _optional_selector("stats.selectors", "stats_entry_status") or {},
        "tasks": _optional_selector("tasks.selectors", "task_global_statistics") or {},
        "health": health.health_check(use_cache=False)[0],
        "series": request_series(now=moment),
    }
    try:
        coordination.value_set(
            keys.SNAPSHOT_KEY,
            json.dumps(snapshot, default=str),
            ttl_seconds=keys.SNAPSHOT_TTL_SECONDS,
        )
    except coordination.CoordinationUnavailable:
        logger.warning("gauge snapshot not stored: coordination redis down")
    return snapshot


def beat_success_record(*, task_name: str, now: float | None = None) -> list[str]:
    """Store "now" as the last success of each beat schedule that runs `task_name`."""
    from config.celery import BEAT_SCHEDULE

    schedules = [name for name, entry in BEAT_SCHEDULE.items() if entry.get("task") == task_name]
    if not schedules:
        return []
    moment = now if now is not None else time.time()
    if not coordination.is_configured():
        for schedule in schedules:
            coordination.local_store.set(f"{keys.BEAT_SUCCESS_KEY}:{schedule}", moment)
        return schedules
    try:
        coordination.call(
            lambda r: r.hset(keys.BEAT_SUCCESS_KEY, mapping=dict.fromkeys(schedules, moment))
        )
    except coordination.CoordinationUnavailable:
        logger.warning("beat success not recorded task=%s", task_name)
    return schedules
