from __future__ import annotations

import logging
import socket
from datetime import UTC, datetime, timedelta

import pytest

from monitoring import aggregates, alerting, health, thresholds
from monitoring.jobs import purge_alert_events
from monitoring.models import AlertEvent

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 23, 12, 0, 30, tzinfo=UTC)


def test_first_firing_sends_slack_and_discord_in_their_own_formats(webhook_receiver):
    sent = alerting.alert_fire(
        key="disk", title="Disk almost full", message="92% used", level="critical", now=T0
    )

    assert sent is True
    slack, discord = webhook_receiver.bodies("/slack"), webhook_receiver.bodies("/discord")
    assert len(slack) == 1 and len(discord) == 1
    assert slack[0]["text"].endswith("[CRITICAL] Disk almost full")
    assert slack[0]["attachments"][0]["color"] == "#d00000"
    assert slack[0]["attachments"][0]["text"] == "92% used"
    assert "embeds" not in slack[0]
    assert discord[0]["embeds"][0]["title"] == "[CRITICAL] Disk almost full"
    assert discord[0]["embeds"][0]["color"] == 0xD00000
    assert discord[0]["embeds"][0]["description"] == "92% used"
    assert "attachments" not in discord[0]
    event = AlertEvent.objects.get(key="disk")
    assert event.state == AlertEvent.State.FIRING and event.open_key == "disk"


def test_still_firing_is_not_resent_within_cooldown_but_is_after(webhook_receiver, settings):
    settings.ALERT_COOLDOWN_SECONDS = 900
    alerting.alert_fire(key="q", title="High Queue Size", message="1200", now=T0)

    again = alerting.alert_fire(
        key="q", title="High Queue Size", message="1300", now=T0 + timedelta(seconds=899)
    )
    later = alerting.alert_fire(
        key="q", title="High Queue Size", message="1400", now=T0 + timedelta(seconds=900)
    )

    assert again is False and later is True
    assert [b["attachments"][0]["text"] for b in webhook_receiver.bodies("/slack")] == [
        "1200",
        "1400",
    ]
    event = AlertEvent.objects.get(key="q")
    assert event.occurrences == 3 and event.message == "1400"
    assert AlertEvent.objects.filter(key="q").count() == 1


def test_resolve_sends_a_resolved_message_once(webhook_receiver):
    alerting.alert_fire(key="db", title="Database Issue", message="down", level="critical", now=T0)

    first = alerting.alert_resolve(key="db", now=T0 + timedelta(minutes=3))
    second = alerting.alert_resolve(key="db", now=T0 + timedelta(minutes=4))

    assert first is True and second is False
    slack = webhook_receiver.bodies("/slack")
    assert len(slack) == 2
    assert slack[1]["text"].endswith("[RESOLVED] Database Issue")
    assert slack[1]["attachments"][0]["color"] == "#2eb67d"
    assert "Resolved after 3m" in webhook_receiver.bodies("/discord")[1]["embeds"][0]["description"]
    event = AlertEvent.objects.get(key="db")
    assert event.state == AlertEvent.State.RESOLVED and event.open_key is None
    assert event.resolved_at == T0 + timedelta(minutes=3)


def test_flapping_alert_is_not_renotified_within_cooldown(webhook_receiver, settings):
    settings.ALERT_COOLDOWN_SECONDS = 600
    alerting.alert_fire(key="flap", title="Slow Response", message="a", now=T0)
    alerting.alert_resolve(key="flap", now=T0 + timedelta(seconds=60))

    refired = alerting.alert_fire(
        key="flap", title="Slow Response", message="b", now=T0 + timedelta(seconds=120)
    )

    assert refired is False
    assert len(webhook_receiver.bodies("/slack")) == 2  # firing + resolved only
    assert AlertEvent.objects.filter(key="flap").count() == 2
    assert AlertEvent.objects.firing().get(key="flap").notified_at is None
    # its resolution is silent too: nobody was told it fired
    assert alerting.alert_resolve(key="flap", now=T0 + timedelta(seconds=180)) is False


def test_webhook_failure_is_logged_and_never_raises(webhook_receiver, settings, caplog):
    webhook_receiver.status = 500
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings.DISCORD_WEBHOOK_URL = f"http://127.0.0.1:{closed_port}/nothing-listens"

    with caplog.at_level(logging.ERROR, logger="monitoring.channels"):
        sent = alerting.alert_fire(
            key="x", title="High Error Rate", message="m", level="critical", now=T0
        )

    assert sent is True  # the decision to send stands; delivery failed and was logged
    assert len(webhook_receiver.bodies("/slack")) == 1
    messages = " ".join(record.getMessage() for record in caplog.records)
    assert "channel=slack status=500" in messages
    assert "alert webhook failed channel=discord" in messages
    assert AlertEvent.objects.get(key="x").notified_at == T0


def test_disabled_channels_send_nothing(webhook_receiver, settings):
    settings.SLACK_ALERTS_ENABLED = False
    settings.DISCORD_ALERTS_ENABLED = False

    alerting.alert_fire(key="quiet", title="t", message="m", now=T0)

    assert webhook_receiver.requests == []
    assert AlertEvent.objects.firing().filter(key="quiet").exists()


def _record_minute(
    *, minute_start: float, errors: int = 0, ok: int = 0, limited: int = 0, ms: float = 5
):
    for _ in range(errors):
        aggregates.record_request(status=503, duration_ms=ms, now=minute_start + 1)
    for _ in range(ok):
        aggregates.record_request(status=200, duration_ms=ms, now=minute_start + 1)
    for _ in range(limited):
        aggregates.record_request(status=429, duration_ms=ms, now=minute_start + 1)
    aggregates.flush(now=minute_start + 2, force=True)


def test_evaluate_fires_on_5xx_at_threshold_not_on_429_and_resolves_below(
    webhook_receiver, settings
):
    settings.ALERT_ERRORS_PER_MINUTE = 10
    settings.ALERT_QUEUE_SIZE = 10**9
    minute = (T0.timestamp() // 60) * 60
    _record_minute(minute_start=minute - 60, errors=10, limited=500, ok=20)

    result = alerting.alert_checks_evaluate(now=T0)

    assert result["requests.error_rate"] == "firing"
    assert result["requests.slow"] == "ok"
    assert result["database.down:default"] == "ok"
    critical = [b for b in webhook_receiver.bodies("/slack") if "High Error Rate" in b["text"]]
    assert len(critical) == 1 and "10 server errors" in critical[0]["attachments"][0]["text"]

    _record_minute(minute_start=minute, errors=9, limited=5000)
    result = alerting.alert_checks_evaluate(now=T0 + timedelta(seconds=60))

    assert result["requests.error_rate"] == "ok"
    assert webhook_receiver.bodies("/slack")[-1]["text"].endswith("[RESOLVED] High Error Rate")
    assert not AlertEvent.objects.firing().filter(key="requests.error_rate").exists()


def test_evaluate_fires_slow_response_on_average_latency(webhook_receiver, settings):
    settings.ALERT_RESPONSE_TIME_MS = 1000
    settings.ALERT_QUEUE_SIZE = 10**9
    minute = (T0.timestamp() // 60) * 60
    _record_minute(minute_start=minute - 60, ok=4, ms=1000)

    result = alerting.alert_checks_evaluate(now=T0)

    assert result["requests.slow"] == "firing"
    event = AlertEvent.objects.firing().get(key="requests.slow")
    assert event.level == "warning" and "1000 ms" in event.message


def test_evaluate_fires_high_queue_size_from_broker_lengths(webhook_receiver, settings):
    import redis

    settings.ALERT_QUEUE_SIZE = 3
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    queue = "mon-alert-test"
    try:
        broker.rpush(queue, "a", "b", "c")
        sizes = health.queue_sizes(queues=(queue,))
        checks = thresholds.queues_check(T0)
    finally:
        broker.delete(queue)
        broker.close()

    assert sizes == {queue: 3}
    assert all(not check.is_firing for check in checks)  # the real queues are empty


def test_purge_deletes_only_old_resolved_events(settings):
    settings.ALERT_EVENT_RETENTION_DAYS = 30
    old = T0 - timedelta(days=40)
    AlertEvent.objects.create(
        key="old", title="t", fired_at=old, last_seen_at=old, state="resolved", resolved_at=old
    )
    AlertEvent.objects.create(
        key="open", open_key="open", title="t", fired_at=old, last_seen_at=old
    )
    recent = T0 - timedelta(days=2)
    AlertEvent.objects.create(
        key="new",
        title="t",
        fired_at=recent,
        last_seen_at=recent,
        state="resolved",
        resolved_at=recent,
    )

    deleted = purge_alert_events.apply().get()

    assert deleted == 1
    assert sorted(AlertEvent.objects.values_list("key", flat=True)) == ["new", "open"]
