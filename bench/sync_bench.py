"""Outbox sync at scale (`make bench-sync`): a benchmark, not a test.

Against the provider stub (a real HTTP server in this process, port 0) with a compressed
budget window, on MariaDB database `--db-name` and the coordination Redis on `--redis-port`:

  1. capture overhead: p50/p99 of a user save that changes a tracked field vs one that changes
     only an untracked field (each its own transaction, after-commit backlog check included);
  2. `--changes` changes over `--users` users through accounts.services.users_bulk_update
     (captured in bulk), timed, with the relay stopped so a real backlog builds up;
  3. the drain: `--workers` relay threads (own DB connections, like a threaded Celery worker)
     run the beat step (`outbox_tick`) in a loop, waiting for the next window when the budget
     is spent, until nothing is left.

Reports: every user's final state delivered (stub version == User.sync_version), lost users,
over-limit calls (stub 429s for limits), duplicates (records answered from the idempotency
memory + states applied twice), batch-budget utilization in the windows that had a backlog
throughout, and drain time. Writes bench/results/sync.md.

Default scale = the issue's: 100,000 changes over 10,000 users, coalescing off (every change is
a record: the budget-bound case), 50 batch calls of 1,000 per 30 s window. Smaller, e.g.:
`.venv/bin/python bench/sync_bench.py --users 2000 --changes 20000 --batch-limit 10 --redis-port 6394`.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "sync.md"
redis_faults: list[int] = []  # relay steps skipped because the coordination Redis timed out


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=100_000)
    parser.add_argument("--window-seconds", type=int, default=30, help="compressed budget window")
    parser.add_argument("--batch-limit", type=int, default=50, help="batch calls per window")
    parser.add_argument("--single-limit", type=int, default=100, help="single calls per window")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4, help="relay threads")
    parser.add_argument("--coalesce", action="store_true", help="SYNC_COALESCE on (default off)")
    parser.add_argument("--save-samples", type=int, default=300, help="timed saves per kind")
    parser.add_argument("--db-name", default="bench_sync", help="MariaDB database (recreated)")
    parser.add_argument("--mysql", default="root@127.0.0.1:3306", help="user@host:port")
    parser.add_argument("--redis-port", type=int, default=6379, help="Redis port (DB 13 is used)")
    parser.add_argument("--out", default=str(RESULTS), help="results file (markdown)")
    return parser.parse_args()


def _environment(args: argparse.Namespace) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["DATABASE_URL"] = f"mysql://{args.mysql}/{args.db_name}"
    os.environ["REDIS_URL"] = f"redis://127.0.0.1:{args.redis_port}/13"
    os.environ["REDIS_CACHE_URL"] = f"redis://127.0.0.1:{args.redis_port}/14"
    os.environ["CELERY_BROKER_URL"] = ""
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
    os.environ["SYNC_COALESCE"] = "1" if args.coalesce else "0"
    os.environ["SYNC_WINDOW_SECONDS"] = str(args.window_seconds)
    os.environ["SYNC_BATCH_CALLS_PER_WINDOW"] = str(args.batch_limit)
    os.environ["SYNC_SINGLE_CALLS_PER_WINDOW"] = str(args.single_limit)
    os.environ["SYNC_BATCH_SIZE"] = str(args.batch_size)
    os.environ["SYNC_MAX_DELAY_SECONDS"] = "0"  # flush a partial remainder at once
    os.environ["SYNC_PROVIDER_TIMEOUT_SECONDS"] = "30"
    # 0.1 s (the default) times out now and then on a loaded shared machine.
    os.environ.setdefault("REDIS_SOCKET_TIMEOUT_SECONDS", "0.5")
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    sys.path.insert(0, str(ROOT))


def _recreate_database(args: argparse.Namespace) -> None:
    import MySQLdb

    user, address = args.mysql.split("@")
    host, port = address.split(":")
    connection = MySQLdb.connect(host=host, port=int(port), user=user)
    try:
        cursor = connection.cursor()
        cursor.execute(f"DROP DATABASE IF EXISTS `{args.db_name}`")
        cursor.execute(
            f"CREATE DATABASE `{args.db_name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )
    finally:
        connection.close()


def _percentile_ms(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] * 1000


def _capture_overhead(args: argparse.Namespace) -> dict[str, float]:
    from accounts.models import User

    users = list(User.objects.order_by("pk")[: args.save_samples])
    tracked, untracked = [], []
    for index, user in enumerate(users):
        user.role = User.Role.EDITOR if index % 2 else User.Role.MEMBER
        started = time.perf_counter()
        user.save()  # untracked field only: no capture
        untracked.append(time.perf_counter() - started)
        user.name = f"timed {index}"
        started = time.perf_counter()
        user.save()  # tracked: version bump + outbox row, same transaction
        tracked.append(time.perf_counter() - started)
    return {
        "tracked_p50_ms": _percentile_ms(tracked, 0.5),
        "tracked_p99_ms": _percentile_ms(tracked, 0.99),
        "untracked_p50_ms": _percentile_ms(untracked, 0.5),
        "untracked_p99_ms": _percentile_ms(untracked, 0.99),
        "overhead_p50_ms": _percentile_ms(tracked, 0.5) - _percentile_ms(untracked, 0.5),
    }


def _produce(args: argparse.Namespace, user_ids: list[int]) -> float:
    from accounts.services import users_bulk_update

    rounds = max(1, args.changes // len(user_ids))
    chunk = 1000
    started = time.monotonic()
    for round_number in range(rounds):
        for start in range(0, len(user_ids), chunk):
            ids = user_ids[start : start + chunk]
            users_bulk_update(
                updates={
                    pk: {"name": f"u{pk} r{round_number}", "plan": f"plan-{round_number}"}
                    for pk in ids
                }
            )
        print(
            f"  round {round_number + 1}/{rounds} ({time.monotonic() - started:.0f}s)", flush=True
        )
    return time.monotonic() - started


def _drain(args: argparse.Namespace, stub) -> tuple[float, list[tuple[int, int]]]:
    """Run relay workers until the outbox is empty; returns (seconds, backlog samples)."""
    from django.db import connections

    from core import redis as coordination
    from syncqueue import budget
    from syncqueue.models import OutboxRecord, OutboxStatus
    from syncqueue.services import outbox_tick

    done = threading.Event()
    errors: list[BaseException] = []
    samples: list[tuple[int, int]] = []  # (window, waiting rows) once per second

    def left() -> int:
        return OutboxRecord.objects.filter(
            status__in=(OutboxStatus.UNSENT, OutboxStatus.FAILED, OutboxStatus.PENDING)
        ).count()

    def worker() -> None:
        from django.utils import timezone

        try:
            while not done.is_set():
                try:
                    report = outbox_tick()
                except coordination.CoordinationUnavailable:
                    # What the job does: send nothing this time (fail closed), retry later.
                    redis_faults.append(1)
                    time.sleep(0.2)
                    continue
                if report.stopped_because in ("no_budget", "batch_budget_spent"):
                    now = timezone.now()
                    time.sleep(max(0.05, budget.window_resets_in_seconds(now)) + 0.05)
                elif report.stopped_because in ("empty", "busy", "partial"):
                    time.sleep(0.1)
        except BaseException as exc:
            errors.append(exc)
            done.set()
        finally:
            connections.close_all()

    # Start at a window boundary so every window is a whole one.
    from django.utils import timezone

    time.sleep(budget.window_resets_in_seconds(timezone.now()) + 0.05)
    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(args.workers)]
    for thread in threads:
        thread.start()
    while not done.is_set():
        waiting = left()
        samples.append((stub.window(), waiting))
        if waiting == 0:
            done.set()
            break
        time.sleep(1.0)
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return time.monotonic() - started, samples


def main() -> None:
    args = _arguments()
    _environment(args)
    _recreate_database(args)

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from accounts.models import User
    from core import redis as coordination
    from syncqueue import client
    from syncqueue.models import OutboxRecord, ProviderCall
    from syncqueue.stub import ProviderStub

    call_command("migrate", verbosity=0)
    coordination.call(lambda r: r.flushdb())
    stub = ProviderStub(
        window_seconds=args.window_seconds,
        batch_limit=args.batch_limit,
        single_limit=args.single_limit,
    )
    settings.SYNC_PROVIDER_URL = stub.start(port=0)
    client.reset_clients()

    print(f"creating {args.users} users (bulk, not captured)", flush=True)
    User.objects.bulk_create(
        [User(email=f"bench-{i}@example.com", name=f"bench {i}") for i in range(args.users)],
        batch_size=2000,
    )
    user_ids = list(User.objects.order_by("pk").values_list("pk", flat=True))

    print("capture overhead", flush=True)
    overhead = _capture_overhead(args)
    # The timed saves go out with the rest; their rows count as changes too.
    timed_rows = OutboxRecord.objects.count()

    print(f"producing {args.changes} changes (relay stopped: no kick, no worker)", flush=True)
    # The relay stays off while changes pile up, so the drain starts against a real backlog
    # (the producer here is slower than the budget, which would otherwise never be the limit).
    settings.SYNC_BATCH_SIZE = 10**9
    produce_seconds = _produce(args, user_ids)
    settings.SYNC_BATCH_SIZE = args.batch_size
    rows = OutboxRecord.objects.count()

    print(f"draining {rows} rows with {args.workers} relay workers", flush=True)
    drain_seconds, samples = _drain(args, stub)

    snapshot = stub.snapshot()
    versions = dict(User.objects.values_list("pk", "sync_version"))
    lost = sum(
        1
        for pk, version in versions.items()
        if stub.held_users.get(pk, {}).get("version") != version
    )
    batch_counts = {w: n for (kind, w), n in stub.counts.items() if kind == "batch"}
    single_counts = {w: n for (kind, w), n in stub.counts.items() if kind == "single"}
    # A window "had a backlog throughout" when every sample in it saw a full batch waiting and
    # the window ended before the drain did.
    by_window: dict[int, list[int]] = {}
    for window, waiting in samples:
        by_window.setdefault(window, []).append(waiting)
    last_window = max(by_window)
    full_windows = sorted(
        w for w, seen in by_window.items() if w != last_window and min(seen) >= args.batch_size
    )
    used = sum(batch_counts.get(w, 0) for w in full_windows)
    utilization = used / (args.batch_limit * len(full_windows)) if full_windows else None
    calls = ProviderCall.objects.count()
    duplicates = snapshot["replays"] + snapshot["applied_twice"]

    lines = [
        "# Sync benchmark (`make bench-sync`)",
        "",
        f"Command: `.venv/bin/python bench/sync_bench.py {' '.join(sys.argv[1:])}`",
        "",
        f"- users: {args.users}, changes: {args.changes} (+{timed_rows} from the timed saves), "
        f"coalescing: {'on' if args.coalesce else 'off'}, outbox rows: {rows}",
        f"- window: {args.window_seconds} s, budget per window: {args.batch_limit} batch calls of "
        f"{args.batch_size} + {args.single_limit} single calls; relay workers: {args.workers}",
        "",
        "| metric | value |",
        "|---|---|",
        f"| users whose final state was delivered | {args.users - lost} / {args.users} |",
        f"| lost (final state not at the provider) | {lost} |",
        f"| over-limit calls (stub 429 for limits) | {snapshot['over_limit']} |",
        f"| duplicates (idempotent replays + double applies) | {duplicates} |",
        f"| stale records (older version after a newer one) | {snapshot['stale']} |",
        f"| batch calls per window | {dict(sorted(batch_counts.items()))} |",
        f"| single calls per window | {dict(sorted(single_counts.items()))} |",
        f"| windows with a backlog throughout | {len(full_windows)} |",
        f"| batch-budget utilization in those windows | "
        f"{'n/a' if utilization is None else f'{utilization:.1%}'} |",
        f"| provider calls logged | {calls} |",
        f"| relay steps skipped: coordination Redis timeout (fail closed) | {len(redis_faults)} |",
        f"| produce {args.changes} changes (users_bulk_update) | {produce_seconds:.1f} s "
        f"({args.changes / produce_seconds:.0f} changes/s) |",
        f"| drain {rows} rows | {drain_seconds:.1f} s |",
        f"| save with a tracked change p50 / p99 | {overhead['tracked_p50_ms']:.2f} / "
        f"{overhead['tracked_p99_ms']:.2f} ms |",
        f"| save with an untracked change p50 / p99 | {overhead['untracked_p50_ms']:.2f} / "
        f"{overhead['untracked_p99_ms']:.2f} ms |",
        f"| capture overhead p50 | {overhead['overhead_p50_ms']:.2f} ms |",
        "",
    ]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    print("\n".join(lines))
    stub.stop()


if __name__ == "__main__":
    main()
