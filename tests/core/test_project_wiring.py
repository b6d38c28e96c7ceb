"""Project-wide invariants: every DRF view limits first; Celery is configured as documented."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.views import APIView

from config.celery import BEAT_SCHEDULE, QUEUES, app
from core.views import LimitFirstMixin
from tasks.jobs import SEND_RETRY_MAX_COUNTDOWN_SECONDS

ROOT = Path(__file__).resolve().parents[2]


def _view_classes(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _view_classes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            cls = getattr(pattern.callback, "cls", None) or getattr(
                pattern.callback, "view_class", None
            )
            if cls is not None:
                yield prefix + str(pattern.pattern), cls


def test_every_api_view_decides_the_rate_limit_before_permissions():
    offenders = [
        route
        for route, cls in _view_classes(get_resolver().url_patterns)
        if route.startswith("api/v")
        and isinstance(cls, type)
        and issubclass(cls, APIView)
        and not issubclass(cls, LimitFirstMixin)
    ]
    assert offenders == []


def test_celery_is_json_only_acks_late_and_bounded():
    conf = app.conf
    assert conf.task_serializer == "json"
    assert conf.accept_content == ["json"]
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_ignore_result is True
    assert conf.task_soft_time_limit < conf.task_time_limit
    # Redis redelivers unacked jobs after the visibility timeout: it must exceed every hard limit.
    assert conf.broker_transport_options["visibility_timeout"] > conf.task_time_limit
    assert conf.task_publish_retry is False


def test_routes_send_each_area_to_its_queue():
    router = app.amqp.router
    expected = {
        "stats.jobs.refresh_stats_snapshot": "urgent",
        "syncqueue.jobs.sync_tick": "sync",
        "posts.jobs.relay_pending_post_events": "default",
        "tasks.jobs.send_daily_reminder_chunk": "reminders",
    }
    for name, queue in expected.items():
        assert router.route({}, name)["queue"].name == queue, name
    assert set(QUEUES) == {"default", "reminders", "urgent", "sync"}


def test_sync_tick_and_alert_evaluation_intervals_come_from_the_environment():
    """The provider-outage drill compresses time by starting beat with shorter intervals."""
    code = (
        "from config.celery import BEAT_SCHEDULE\n"
        "print(BEAT_SCHEDULE['sync-tick']['schedule'],"
        " BEAT_SCHEDULE['monitoring-evaluate-alerts']['schedule'])\n"
    )
    env = {**os.environ, "SYNC_TICK_SECONDS": "6", "ALERT_EVALUATE_SECONDS": "7"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["6.0", "7.0"]
    assert BEAT_SCHEDULE["sync-tick"]["schedule"] == 60.0  # the default


def test_every_beat_entry_names_a_registered_job():
    app.loader.import_default_modules()
    missing = sorted(
        entry["task"] for entry in BEAT_SCHEDULE.values() if entry["task"] not in app.tasks
    )
    assert missing == []


# Retry countdowns jobs compute themselves (not introspectable): tasks.jobs._backoff_seconds.
CUSTOM_COUNTDOWN_SECONDS = {
    "tasks.jobs.send_task_reminders_chunk": SEND_RETRY_MAX_COUNTDOWN_SECONDS,
    "tasks.jobs.send_overdue_alerts_chunk": SEND_RETRY_MAX_COUNTDOWN_SECONDS,
    "tasks.jobs.send_weekly_digests_chunk": SEND_RETRY_MAX_COUNTDOWN_SECONDS,
}


def test_each_queue_visibility_timeout_exceeds_its_jobs_limits_and_countdowns():
    """A worker holds an ETA job unacknowledged until due, and a running job until it ends:
    a queue's visibility timeout below either would redeliver a job that is still alive."""
    from django.conf import settings

    app.loader.import_default_modules()
    conf = app.conf
    per_queue = conf.broker_transport_options["queue_visibility_timeouts"]
    assert per_queue == settings.CELERY_QUEUE_VISIBILITY_TIMEOUT_SECONDS
    assert conf.broker_transport == "config.broker:Transport"
    for name, task in app.tasks.items():
        if name.startswith("celery.") or name.startswith("tests."):
            continue
        queue = app.amqp.router.route({}, name)["queue"].name
        timeout = per_queue.get(queue, conf.broker_transport_options["visibility_timeout"])
        hard_limit = task.time_limit or conf.task_time_limit
        countdown = CUSTOM_COUNTDOWN_SECONDS.get(name, 0)
        if getattr(task, "autoretry_for", None) and getattr(task, "retry_backoff", False):
            countdown = max(countdown, getattr(task, "retry_backoff_max", 600))
        assert hard_limit + countdown < timeout, (name, queue, hard_limit, countdown, timeout)


# A dead worker's reminder or overdue-alert chunk comes back within this (issue #13, defect 6:
# the worker-kill drill waits 360 s for the rest of a SIGKILLed chunk).
CHUNK_QUEUE_REDELIVERY_SECONDS = 180


def test_chunk_queues_redeliver_a_dead_workers_job_within_three_minutes():
    """`reminders` and `urgent` hold only short jobs, so their visibility timeout can be short;
    routing a long job there would need a longer timeout and fails here instead."""
    from django.conf import settings

    app.loader.import_default_modules()
    per_queue = settings.CELERY_QUEUE_VISIBILITY_TIMEOUT_SECONDS
    for queue in ("reminders", "urgent"):
        assert per_queue[queue] <= CHUNK_QUEUE_REDELIVERY_SECONDS, (queue, per_queue[queue])
    routed = {
        name: app.amqp.router.route({}, name)["queue"].name
        for name in app.tasks
        if not name.startswith(("celery.", "tests."))
    }
    assert routed["tasks.jobs.send_task_reminders_chunk"] == "reminders"
    assert routed["tasks.jobs.send_overdue_alerts_chunk"] == "urgent"
