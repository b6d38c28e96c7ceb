"""The Celery app, its routing and the one beat schedule.

Jobs live in each app's `jobs.py` (never `tasks.py`: that is an app name here).
"""

from __future__ import annotations

import os

from celery import Celery, signals
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def _select_metrics_dir() -> None:
    """`celery worker` / `celery beat`: metric files go to this kind's own subdirectory of
    PROMETHEUS_MULTIPROC_DIR (monitoring.multiproc), chosen now, before Django loads the apps
    and their metrics. The celery command imports this module while parsing its command line,
    so click's context already names the subcommand."""
    import click

    context = click.get_current_context(silent=True)
    command = getattr(context, "invoked_subcommand", None)
    if command not in ("worker", "beat"):
        return
    from monitoring.multiproc import WORKER_PREFIX, multiprocess_dir_select

    multiprocess_dir_select(kind=f"{WORKER_PREFIX}{os.getpid()}" if command == "worker" else "beat")


_select_metrics_dir()

app = Celery("platform", task_cls="core.jobs:GuardedTask")
app.config_from_object("django.conf:settings", namespace="CELERY")


def _configure() -> None:
    from django.conf import settings

    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        # A job whose worker died is redelivered; core.jobs.GuardedTask drops poison messages.
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT_SECONDS,
        task_time_limit=settings.CELERY_TASK_TIME_LIMIT_SECONDS,
        # Redis redelivers unacked messages after this; it must exceed every hard limit, and no
        # countdown/ETA may exceed it either (waits are done with next_attempt_at + beat instead).
        broker_transport_options={
            "visibility_timeout": settings.CELERY_VISIBILITY_TIMEOUT_SECONDS,
            **publisher_broker_options(timeout_seconds=settings.CELERY_PUBLISH_TIMEOUT_SECONDS),
        },
        # Outside workers a publish must fail within the Redis budget: kombu's reconnect loop
        # sleeps 2 s before its first retry even when the task is sent with retry=False.
        broker_connection_timeout=settings.CELERY_PUBLISH_TIMEOUT_SECONDS,
        broker_connection_retry_on_startup=True,
        # A worker never gives up on the broker (Celery's default stops after 100 attempts,
        # ~45 min): it reconnects after any restart or outage on its own.
        broker_connection_max_retries=None,
        # Jobs are idempotent (claims, ledgers, locks): a job still running when the broker
        # blinks may run twice, which is cheaper than killing it mid-way (a provider call).
        worker_cancel_long_running_tasks_on_connection_loss=False,
        # Request paths publish once; durable rows and beat ticks catch up on failures.
        task_publish_retry=False,
        task_default_queue="default",
        task_create_missing_queues=True,
        task_routes=TASK_ROUTES,
        beat_schedule=BEAT_SCHEDULE,
        timezone="UTC",
        enable_utc=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=True,
        task_send_sent_event=False,
    )
    # Beat keeps its schedule state beside the SQLite file and the drain marker, never in the
    # checkout's root (the systemd unit and supervisor pass the same path with -s).
    app.conf.beat_schedule_filename = str(settings.VAR_DIR / "celerybeat-schedule")
    if not settings.CELERY_BROKER_URL:
        # Embedded mode: jobs run inline, but Celery still builds a producer for each eager
        # apply_async; the in-memory transport keeps that from resolving `amqp://localhost`
        # (and from logging kombu's "No hostname was supplied"). Workers and beat refuse it.
        app.conf.update(broker_url="memory://localhost/")
    if settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        # kombu's Redis transport plus a visibility timeout per queue (config/broker.py); the
        # sweep that redelivers a dead worker's jobs runs every ~10 s instead of ~100 s.
        app.conf.broker_transport = "config.broker:Transport"
        app.conf.broker_transport_options.update(
            queue_visibility_timeouts=settings.CELERY_QUEUE_VISIBILITY_TIMEOUT_SECONDS,
            unacked_restore_interval=5,
            unacked_restore_throttle=2,
        )


def publisher_broker_options(*, timeout_seconds: float) -> dict[str, float | int]:
    """Broker transport options for processes that only publish (web, beat, shells)."""
    return {
        "socket_timeout": timeout_seconds,
        "socket_connect_timeout": timeout_seconds,
        "max_retries": 0,  # no reconnect loop: fail now, the durable sweeps catch up
    }


QUEUES = ("default", "reminders", "urgent", "sync")


def _setting_seconds(name: str) -> float:
    """An interval of the schedule that the environment sets (config/settings.py)."""
    from django.conf import settings

    return float(getattr(settings, name))


# First match wins. `reminders` and `urgent` carry only jobs of a minute or less, so their
# visibility timeout (CELERY_QUEUE_VISIBILITY_TIMEOUT_SECONDS) brings a dead worker's chunk back
# within minutes; the long beat jobs (a 600 s recount, the 300 s fan-outs) go to `default`.
TASK_ROUTES = {
    "stats.jobs.reconcile_stats_counters": {"queue": "default"},
    "stats.jobs.*": {"queue": "urgent"},
    "syncqueue.jobs.*": {"queue": "sync"},
    "posts.jobs.*": {"queue": "default"},
    "tasks.jobs.schedule_*": {"queue": "default"},
    "tasks.jobs.send_overdue_alerts*": {"queue": "urgent"},
    "tasks.jobs.send_overdue_alert*": {"queue": "urgent"},
    "tasks.jobs.*reminder*": {"queue": "reminders"},
    "tasks.jobs.*": {"queue": "default"},
    "monitoring.jobs.*": {"queue": "default"},
    "accounts.jobs.*": {"queue": "default"},
}

BEAT_SCHEDULE = {
    # Refresh the stats entry a minute before its 5-minute freshness ends, so requests only read.
    "stats-refresh": {"task": "stats.jobs.refresh_stats_snapshot", "schedule": 240.0},
    # Every 15 minutes: recount on a replica and correct the sharded stats counters (a no-op
    # unless STATS_SOURCE=counters).
    "stats-reconcile-counters": {
        "task": "stats.jobs.reconcile_stats_counters",
        "schedule": crontab(minute="7-59/15"),
    },
    # Enqueue listener jobs for post events the after-commit relay missed (crash between commit and enqueue).
    "posts-relay-sweep": {"task": "posts.jobs.relay_pending_post_events", "schedule": 60.0},
    # Flush the Redis view counters into Post.view_count in bulk.
    "posts-flush-views": {"task": "posts.jobs.flush_post_views", "schedule": 60.0},
    # Delete delivered post events older than POSTS_EVENT_RETENTION_DAYS, in chunks (03:10 UTC daily).
    "posts-purge-events": {
        "task": "posts.jobs.purge_post_events",
        "schedule": crontab(hour=3, minute=10),
    },
    # Every 5 minutes: users whose local 09:00 just passed get reminders for tasks due tomorrow.
    "tasks-daily-reminders": {
        "task": "tasks.jobs.schedule_daily_reminders",
        "schedule": crontab(minute="*/5"),
    },
    # Hourly, on the hour: reminders for overdue tasks, on the urgent queue.
    "tasks-overdue-alerts": {
        "task": "tasks.jobs.schedule_overdue_alerts",
        "schedule": crontab(minute=0),
    },
    # Every 6 hours: global task statistics into the coordination Redis.
    "tasks-global-statistics": {
        "task": "tasks.jobs.compute_global_task_statistics",
        "schedule": crontab(minute=5, hour="*/6"),
    },
    # Every 15 minutes: users whose local Monday 08:00 just passed get last week's digest.
    "tasks-weekly-digests": {
        "task": "tasks.jobs.schedule_weekly_digests",
        "schedule": crontab(minute="*/15"),
    },
    # Delete reminder/digest ledger rows older than TASKS_LEDGER_RETENTION_DAYS (03:20 UTC daily).
    "tasks-purge-ledgers": {
        "task": "tasks.jobs.purge_task_ledgers",
        "schedule": crontab(hour=3, minute=20),
    },
    # Every minute (SYNC_TICK_SECONDS): retry due failed outbox rows, flush old partial batches,
    # reclaim expired leases.
    "sync-tick": {
        "task": "syncqueue.jobs.sync_tick",
        "schedule": _setting_seconds("SYNC_TICK_SECONDS"),
    },
    # Hourly: reclaim expired outbox leases (a backstop for the tick; sync alerts run with the others).
    "sync-sweep": {"task": "syncqueue.jobs.sync_sweep", "schedule": crontab(minute=30)},
    # Delete sent/superseded rows and old provider calls beyond retention (03:30 UTC daily).
    "sync-archive": {"task": "syncqueue.jobs.sync_archive", "schedule": crontab(hour=3, minute=30)},
    # Every minute (ALERT_EVALUATE_SECONDS): run every registered alert check and send/resolve
    # Slack/Discord alerts.
    "monitoring-evaluate-alerts": {
        "task": "monitoring.jobs.evaluate_alerts",
        "schedule": _setting_seconds("ALERT_EVALUATE_SECONDS"),
    },
    # Every 15 seconds: refresh the gauges a scrape reads (queue sizes, outbox, budgets).
    "monitoring-refresh-gauges": {"task": "monitoring.jobs.refresh_gauges", "schedule": 15.0},
    # Delete alert events older than ALERT_EVENT_RETENTION_DAYS (03:40 UTC daily).
    "monitoring-purge-alerts": {
        "task": "monitoring.jobs.purge_alert_events",
        "schedule": crontab(hour=3, minute=40),
    },
    # Delete expired and blacklisted refresh tokens (simplejwt's flushexpiredtokens), 03:00 UTC daily.
    "accounts-flush-expired-tokens": {
        "task": "accounts.jobs.flush_expired_tokens",
        "schedule": crontab(hour=3, minute=0),
    },
}

_configure()
app.autodiscover_tasks(related_name="jobs")


@signals.task_prerun.connect
def _reset_job_context(task_id: str | None = None, **_: object) -> None:
    """Each job starts with fresh read-your-writes state and its own request id."""
    from core.context import reset_unit_of_work

    reset_unit_of_work(request_id=task_id)


BROKER_MISSING = (
    "{process}: no broker configured. Set CELERY_BROKER_URL or REDIS_URL (e.g. "
    "redis://127.0.0.1:6379/0) in the environment or in .env / ENV_FILE; `make stack` starts "
    "everything locally with a working environment. Without a broker the web process runs jobs "
    "inline and a {process} has nothing to do."
)


def require_broker(*, process: str) -> None:
    """Workers and beat need a real broker: without one they would talk to nobody."""
    from django.conf import settings

    if not settings.CELERY_BROKER_URL:
        raise SystemExit(BROKER_MISSING.format(process=process))


@signals.worker_init.connect
def _worker_broker_options(**_: object) -> None:
    """A worker is not on a request path: longer broker timeouts, and kombu's own reconnect
    loop so it rides out a broker restart (set before its consumer connects)."""
    from django.conf import settings

    options = app.conf.broker_transport_options
    options.pop("max_retries", None)
    options["socket_timeout"] = settings.CELERY_WORKER_BROKER_TIMEOUT_SECONDS
    options["socket_connect_timeout"] = settings.CELERY_WORKER_BROKER_TIMEOUT_SECONDS
    app.conf.broker_connection_timeout = settings.CELERY_WORKER_BROKER_TIMEOUT_SECONDS


@signals.worker_init.connect
def _check_coordination_policy(**_: object) -> None:
    """Refuse to start a worker without a broker or on an evicting coordination Redis."""
    from core.checks import verify_at_startup

    require_broker(process="celery worker")
    verify_at_startup(process="celery worker")


@signals.beat_init.connect
def _check_beat_environment(**_: object) -> None:
    require_broker(process="celery beat")


@signals.worker_process_init.connect
def _reset_clients_after_fork(**_: object) -> None:
    from core import redis as coordination

    coordination.reset_clients()
