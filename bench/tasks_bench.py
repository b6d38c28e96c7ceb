"""Tasks at scale (`make bench-tasks`): a benchmark, not a test.

Over 400 lines on purpose: one self-contained benchmark script (seed, measure, report)
run on its own outside the test suite.

Loads users and tasks into MariaDB database `--db-name` (seed_demo's bulk seeders), then
measures, with jobs published to a real Redis broker but not run:

  1. daily-reminder fan-out: `reminders_schedule_daily` at each user zone's local 09:00
     (wall time, SQL statements, messages published, peak Python memory), plus a sample of
     reminder chunk jobs run inline (locmem mail);
  2. overdue-alert fan-out (7-day lookback: a larger fan-out than one day of reminders);
  3. weekly digest: `digests_schedule_weekly` at each zone's Monday 08:00, plus a sample of
     digest chunk jobs run inline;
  4. GET /api/v1/tasks latency for a member, cold (generation bumped before each request)
     vs warm (cache hit), and an admin (uncached) list and a FULLTEXT search.

The fan-outs run at two table sizes (`--tasks` / 10 first, then `--tasks`) so "memory stays
flat" can be read off the figures. Writes bench/results/tasks.md.

Full scale (the issue's): --tasks 1000000 (the default). Uses Redis DBs 13-15 of
`--redis-url`'s server and flushes only those.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "tasks.md"


def _configure(args: argparse.Namespace) -> None:
    base = args.redis_url.rstrip("/")
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "1",
            "DATABASE_URL": f"mysql://root@{args.mysql_host}:{args.mysql_port}/{args.db_name}",
            "REDIS_URL": f"{base}/13",
            "REDIS_CACHE_URL": f"{base}/14",
            "CELERY_BROKER_URL": f"{base}/15",
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "RATE_LIMIT_ENABLED": "0",
            "LOG_LEVEL": "ERROR",
            "SLOW_QUERY_MS": "60000",
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        }
    )
    sys.path.insert(0, str(ROOT))
    import MySQLdb

    server = MySQLdb.connect(host=args.mysql_host, port=args.mysql_port, user="root")
    server.cursor().execute(
        f"CREATE DATABASE IF NOT EXISTS `{args.db_name}` "
        "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    )
    server.close()
    import django

    django.setup()


class Counter:
    def __init__(self) -> None:
        self.statements = 0

    def __call__(self, execute, sql, params, many, context):
        self.statements += 1
        return execute(sql, params, many, context)


class Published:
    """Counts messages actually published to the broker, per queue (routing key)."""

    def __init__(self) -> None:
        self.by_queue: dict[str, int] = {}

    def __call__(self, sender=None, routing_key=None, **_: Any) -> None:
        self.by_queue[routing_key] = self.by_queue.get(routing_key, 0) + 1


def _flush_bench_redis() -> None:
    import redis
    from django.conf import settings

    for url in (settings.REDIS_URL, settings.REDIS_CACHE_URL, settings.CELERY_BROKER_URL):
        client = redis.Redis.from_url(url)
        assert client.connection_pool.connection_kwargs.get("db") in (13, 14, 15)
        client.flushdb()


def measure(label: str, run: Callable[[], Any]) -> dict[str, Any]:
    """Run twice: once for time/statements/messages, once under tracemalloc for peak memory."""
    from celery import signals
    from django.db import connection

    from core import redis as coordination

    _flush_bench_redis()
    coordination.reset_clients()
    counter, published = Counter(), Published()
    signals.before_task_publish.connect(published, weak=False)
    try:
        with connection.execute_wrapper(counter):
            started = time.perf_counter()
            result = run()
            elapsed = time.perf_counter() - started
    finally:
        signals.before_task_publish.disconnect(published)
    _flush_bench_redis()
    coordination.reset_clients()
    tracemalloc.start()
    run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    _flush_bench_redis()
    row = {
        "label": label,
        "seconds": elapsed,
        "statements": counter.statements,
        "messages": sum(published.by_queue.values()),
        "queues": dict(published.by_queue),
        "peak_mib": peak / 2**20,
        "result": result,
    }
    print(
        f"{label}: {elapsed:.2f}s statements={counter.statements} "
        f"messages={row['messages']} {row['queues']} peak={row['peak_mib']:.2f} MiB result={result}",
        flush=True,
    )
    return row


def _zone_instants(*, hour: int, monday: bool) -> list[datetime]:
    """The UTC instants of local `hour` (today, or next Monday) in every user zone."""
    from datetime import time as wall

    from tasks.localtime import local_date, local_instant, zone_for
    from tasks.selectors import user_zone_groups

    now = datetime.now(UTC)
    instants = []
    for zone_name in user_zone_groups():
        zone = zone_for(zone_name)
        day = local_date(now, zone)
        if monday:
            day += timedelta(days=(7 - day.weekday()) % 7)
        instants.append(local_instant(day, wall(hour), zone) + timedelta(minutes=1))
    return sorted(instants)


def fanouts() -> list[dict[str, Any]]:
    from django.conf import settings

    from tasks import services
    from tasks.models import Task

    scale = Task.objects.count()

    rows = []
    reminder_ticks = _zone_instants(hour=settings.REMINDER_LOCAL_HOUR, monday=False)
    rows.append(
        measure(
            f"daily-reminder fan-out, {scale:,} tasks ({len(reminder_ticks)} zone ticks)",
            lambda: _sum(services.reminders_schedule_daily(now=t) for t in reminder_ticks),
        )
    )
    now = datetime.now(UTC)
    rows.append(
        measure(
            f"overdue-alert fan-out, {scale:,} tasks",
            lambda: services.overdue_schedule_alerts(now=now),
        )
    )
    digest_ticks = _zone_instants(hour=settings.DIGEST_LOCAL_HOUR, monday=True)
    rows.append(
        measure(
            f"weekly-digest fan-out, {scale:,} tasks ({len(digest_ticks)} zone ticks)",
            lambda: _sum(services.digests_schedule_weekly(now=t) for t in digest_ticks),
        )
    )
    return rows


def _sum(results) -> dict[str, int]:
    total: dict[str, int] = {}
    for result in results:
        for key, value in result.items():
            total[key] = total.get(key, 0) + value
    return total


def chunk_samples(*, chunks: int) -> list[dict[str, Any]]:
    """Run a few reminder and digest chunks inline (what one worker job costs)."""
    from celery import signals
    from django.conf import settings

    from tasks import services
    from tasks.models import TaskDigestLedger, TaskReminderLedger

    captured: list[tuple[str, list]] = []

    def capture(sender=None, body=None, headers=None, **_: Any) -> None:
        captured.append((headers["task"], body[0]))

    signals.before_task_publish.connect(capture, weak=False)
    try:
        for tick in _zone_instants(hour=settings.REMINDER_LOCAL_HOUR, monday=False):
            services.reminders_schedule_daily(now=tick)
        for tick in _zone_instants(hour=settings.DIGEST_LOCAL_HOUR, monday=True):
            services.digests_schedule_weekly(now=tick)
    finally:
        signals.before_task_publish.disconnect(capture)
    _flush_bench_redis()
    reminder_args = [a for n, a in captured if n.endswith("send_task_reminders_chunk")][:chunks]
    digest_args = [a for n, a in captured if n.endswith("send_weekly_digests_chunk")][:chunks]
    rows = []
    rows.append(
        measure(
            f"{len(reminder_args)} reminder chunk jobs inline",
            lambda: _run_and_reset(
                [
                    partial(
                        services.reminder_send_chunk,
                        task_ids=a[0],
                        kind="due_tomorrow",
                        due_on=datetime.fromisoformat(a[1]).date(),
                        now=datetime.fromisoformat(a[2]),
                    )
                    for a in reminder_args
                ],
                TaskReminderLedger,
            ),
        )
    )
    rows.append(
        measure(
            f"{len(digest_args)} digest chunk jobs inline",
            lambda: _run_and_reset(
                [
                    partial(
                        services.digest_send_chunk,
                        user_ids=a[0],
                        week_start=datetime.fromisoformat(a[1]).date(),
                        now=datetime.fromisoformat(a[2]),
                    )
                    for a in digest_args
                ],
                TaskDigestLedger,
            ),
        )
    )
    return rows


def _run_and_reset(jobs: list[Callable[[], list]], ledger: Any) -> dict[str, int]:
    """Run chunk jobs one after another; the locmem outbox is emptied after each job (as a
    worker would hand mails to SMTP) so peak memory is that of one chunk."""
    from django.core import mail

    sent = failed = 0
    for job in jobs:
        mail.outbox = []
        failed += len(job())
        sent += len(mail.outbox)
    mail.outbox = []
    ledger.objects.all().delete()  # so the second (tracemalloc) pass sends the same mails
    return {"emails": sent, "failed": failed}


def list_latency(requests: int) -> list[dict[str, Any]]:
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    from accounts.tokens import refresh_token_for
    from core import redis as coordination
    from tasks import keys
    from tasks.models import Task

    _flush_bench_redis()
    coordination.reset_clients()
    member = get_user_model().objects.filter(role="member").order_by("pk").first()
    member_id = member.pk
    admin = get_user_model().objects.filter(role="admin").first()
    owned = Task.objects.filter(owner_id=member_id).count()

    def client_for(user) -> APIClient:
        client = APIClient()
        token = refresh_token_for(user).access_token
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client

    member_client = client_for(member)

    def timed(client: APIClient, path: str, before: Callable[[], None] | None = None):
        samples, outcomes = [], {}
        for _ in range(requests):
            if before:
                before()
            started = time.perf_counter()
            response = client.get(path)
            samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.content[:300]
            outcome = response.get("X-Cache", "-")
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        samples.sort()
        return {
            "p50_ms": statistics.median(samples),
            "p95_ms": samples[int(len(samples) * 0.95) - 1],
            "outcomes": outcomes,
        }

    bump = lambda: coordination.generation_bump(keys.generation_key(member.pk))  # noqa: E731
    path = "/api/v1/tasks?ordering=-due_date&page_size=20"
    rows = [
        {"label": f"member list, cold ({owned} tasks owned)", **timed(member_client, path, bump)},
        {"label": f"member list, warm ({owned} tasks owned)", **timed(member_client, path)},
        {
            "label": "member search 'invoice', cold",
            **timed(member_client, "/api/v1/tasks?search=invoice", bump),
        },
        {
            "label": "member statistics, cold",
            **timed(member_client, "/api/v1/tasks/statistics", bump),
        },
        {"label": "member statistics, warm", **timed(member_client, "/api/v1/tasks/statistics")},
    ]
    if admin is not None:
        rows.append(
            {
                "label": "admin list of all tasks (uncached)",
                **timed(client_for(admin), "/api/v1/tasks?page_size=20", None),
            }
        )
    for row in rows:
        print(
            f"{row['label']}: p50={row['p50_ms']:.1f}ms p95={row['p95_ms']:.1f}ms {row['outcomes']}"
        )
    return rows


def seed_to(*, users: int, tasks: int) -> float:
    from django.contrib.auth import get_user_model

    from accounts import seeding as user_seeding
    from tasks import seeding as task_seeding
    from tasks.models import Task

    started = time.perf_counter()
    have_users = get_user_model().objects.count()
    if have_users < users:
        user_seeding.seed(count=users - have_users, progress=lambda done: None)
    have_tasks = Task.objects.count()
    if have_tasks < tasks:
        step = max(1, (tasks - have_tasks) // 10)

        def progress(done: int) -> None:
            if done % step < 5_000:
                print(f"  seeded {have_tasks + done:,}/{tasks:,} tasks", flush=True)

        task_seeding.seed(count=tasks - have_tasks, progress=progress)
    return time.perf_counter() - started


def explain_reminder_batch() -> str:
    """EXPLAIN of one keyset batch query of the reminder fan-out."""
    from django.db import connection

    from tasks.localtime import local_date, zone_for
    from tasks.selectors import reminder_task_id_batches, user_zone_groups

    zone_name, values = next(iter(user_zone_groups().items()))
    zone = zone_for(zone_name)
    due_on = local_date(datetime.now(UTC), zone) + timedelta(days=1)
    captured: list[tuple[str, Any]] = []

    def capture(execute, sql, params, many, context):
        captured.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        next(
            reminder_task_id_batches(zone_values=values, zone=zone, due_on=due_on, batch_size=300),
            None,
        )
    sql, params = captured[0]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        columns = [c[0] for c in cursor.description]
        return "\n".join(
            " | ".join(
                f"{k}={v}"
                for k, v in zip(columns, row, strict=True)
                if k in ("table", "type", "key", "rows", "Extra")
            )
            for row in cursor.fetchall()
        )


def write_results(args: argparse.Namespace, sections: dict[str, Any]) -> None:
    lines = [
        "# tasks benchmark",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on the shared 2-core dev machine "
        "(MariaDB 10.11 default config, Redis 7, other sessions' work running).",
        "",
        "```",
        " ".join(["python bench/tasks_bench.py", *sys.argv[1:]]),
        "```",
        "",
        f"Seeding: {sections['seed_seconds']:.1f} s for the rows not already present "
        f"({args.users:,} users, {args.tasks:,} tasks in the end).",
        "",
        "## Fan-out (scheduler only; jobs published to the Redis broker, not run)",
        "",
        "| run | wall s | SQL statements | messages (by queue) | peak Python memory MiB | result |",
        "|---|---|---|---|---|---|",
    ]
    for row in sections["fanouts"] + sections["chunks"]:
        lines.append(
            f"| {row['label']} | {row['seconds']:.2f} | {row['statements']} | "
            f"{row['messages']} {row['queues'] or ''} | {row['peak_mib']:.2f} | {row['result']} |"
        )
    lines += [
        "",
        "Peak memory is tracemalloc's peak during a second, identical run.",
        "",
        "EXPLAIN of one reminder keyset batch:",
        "",
        "```",
        sections["explain"],
        "```",
        "",
        f"## GET latency through Django's test client ({args.requests} requests each)",
        "",
        "| request | p50 ms | p95 ms | X-Cache outcomes |",
        "|---|---|---|---|",
    ]
    for row in sections["latency"]:
        lines.append(
            f"| {row['label']} | {row['p50_ms']:.1f} | {row['p95_ms']:.1f} | {row['outcomes']} |"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--db-name", default="bench_tasks")
    parser.add_argument("--mysql-host", default="127.0.0.1")
    parser.add_argument("--mysql-port", type=int, default=3306)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--chunks", type=int, default=5, help="chunk jobs to run inline")
    parser.add_argument("--drop", action="store_true", help="drop the database at the end")
    args = parser.parse_args()
    _configure(args)

    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    seed_seconds = seed_to(users=args.users, tasks=max(1, args.tasks // 10))
    sections: dict[str, Any] = {"fanouts": fanouts()}
    seed_seconds += seed_to(users=args.users, tasks=args.tasks)
    sections["fanouts"] += fanouts()
    sections["seed_seconds"] = seed_seconds
    sections["chunks"] = chunk_samples(chunks=args.chunks)
    sections["explain"] = explain_reminder_batch()
    sections["latency"] = list_latency(args.requests)
    write_results(args, sections)
    if args.drop:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE `{args.db_name}`")


if __name__ == "__main__":
    main()
