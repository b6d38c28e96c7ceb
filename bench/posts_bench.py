"""Posts at scale (`make bench-posts`): a benchmark, not a test.

Loads `--posts` posts (default 1,000,000, the issue's scale) into MariaDB database
`--db-name` with posts.seeding, then measures in process, through the full middleware + DRF
stack (django.test.Client), with the page cache defeated (the list generation is bumped
before every timed request) and rate limiting off:

  1. v2 cursor page 1 vs the page at depth `--depth` (10,000): median latency and ratio;
     beside it, offset pagination at the same depth: v1 `?page=` (COUNT + OFFSET) and the bare
     OFFSET query vs the bare keyset query.
  2. payload bytes of a limit=100 page: `fields=id,title,slug` vs the full default vs full
     with every include.
  3. SQL statements per page with all includes at limit 100.
  4. view counter: HINCRBY rate through the service, and flush throughput (views and
     posts applied per second, UPDATE statements per flush).

Writes bench/results/posts.md. On a shared machine run it smaller, e.g.
`.venv/bin/python bench/posts_bench.py --posts 200000 --redis-port 6392`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "posts.md"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=1_000_000, help="posts to have in the table")
    parser.add_argument(
        "--db-name", default="bench_posts", help="MariaDB database (created if missing)"
    )
    parser.add_argument("--mysql", default="root@127.0.0.1:3306", help="user@host:port of MariaDB")
    parser.add_argument(
        "--redis-port", type=int, default=6379, help="Redis port (DBs 13 and 14 are used)"
    )
    parser.add_argument("--depth", type=int, default=10_000, help="rows before the deep page")
    parser.add_argument("--repeat", type=int, default=30, help="timed requests per case")
    parser.add_argument("--views", type=int, default=200_000, help="views to flush")
    parser.add_argument("--view-posts", type=int, default=10_000, help="distinct posts viewed")
    return parser.parse_args()


def _environment(args: argparse.Namespace) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["DATABASE_URL"] = f"mysql://{args.mysql}/{args.db_name}"
    os.environ["REDIS_URL"] = f"redis://127.0.0.1:{args.redis_port}/13"
    os.environ["REDIS_CACHE_URL"] = f"redis://127.0.0.1:{args.redis_port}/14"
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
    os.environ["RATE_LIMIT_ENABLED"] = "0"
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    sys.path.insert(0, str(ROOT))


def _ensure_database(args: argparse.Namespace) -> None:
    import MySQLdb

    user, address = args.mysql.split("@")
    host, port = address.split(":")
    connection = MySQLdb.connect(host=host, port=int(port), user=user)
    try:
        connection.cursor().execute(
            f"CREATE DATABASE IF NOT EXISTS `{args.db_name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )
    finally:
        connection.close()


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def _load(args: argparse.Namespace) -> float:
    from accounts.models import User
    from posts.models import Post
    from posts.seeding import seed as seed_posts

    if not User.objects.filter(role=User.Role.EDITOR).exists():
        User.objects.bulk_create(
            [
                User(
                    email=f"bench-editor-{i}@example.com", name=f"Editor {i}", role=User.Role.EDITOR
                )
                for i in range(200)
            ]
        )
    missing = args.posts - Post.objects.count()
    if missing <= 0:
        return 0.0
    started = time.monotonic()
    step = max(1, missing // 20)

    def progress(done: int) -> None:
        if done % step < 5_000 or done == missing:
            print(
                f"  seeded {done}/{missing} posts ({time.monotonic() - started:.0f}s)", flush=True
            )

    seed_posts(count=missing, progress=progress)
    return time.monotonic() - started


def _timed_get(client, url: str, *, repeat: int) -> tuple[float, int, int]:
    """Median ms, status and body bytes of `repeat` GETs, each a cache miss."""
    from core import redis as coordination
    from posts import keys

    samples = []
    status = size = 0
    for _ in range(repeat):
        coordination.generation_bump(keys.generation_list())  # defeat the page cache
        started = time.perf_counter()
        response = client.get(url)
        samples.append(time.perf_counter() - started)
        status, size = response.status_code, len(response.content)
        assert status == 200, (url, response.content[:300])
    return _median_ms(samples), status, size


def _timed_query(fn, *, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return _median_ms(samples)


def main() -> None:
    args = _arguments()
    _environment(args)
    _ensure_database(args)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from core.cursor import NEXT, cursor_encode, pinned
    from posts.models import Post
    from posts.queries import ORDERINGS, V2ListQuery, selection_for
    from posts.services import post_view_record, post_views_flush

    call_command("migrate", verbosity=0)
    seed_seconds = _load(args)
    total = Post.objects.count()
    published = Post.objects.published().count()
    print(f"posts={total} published={published} seeded_in={seed_seconds:.0f}s", flush=True)

    client = Client()
    limit = 20
    # The cursor a client holds after walking `depth` rows: the row at depth-1.
    boundary = (
        Post.objects.published()
        .order_by("-published_at", "-id")
        .values_list("published_at", "id")[args.depth - 1 : args.depth]
        .get()
    )
    query = V2ListQuery(
        limit=limit,
        cursor=None,
        ordering="-published_at",
        filters={},
        selection=selection_for(user=None, params={}),
    )
    deep_cursor = cursor_encode(values=boundary, direction=NEXT, binding=query.binding())

    _timed_get(client, f"/api/v2/posts?limit={limit}", repeat=3)  # warm connections and buffers
    first_ms, _, _ = _timed_get(client, f"/api/v2/posts?limit={limit}", repeat=args.repeat)
    deep_ms, _, _ = _timed_get(
        client, f"/api/v2/posts?limit={limit}&cursor={deep_cursor}", repeat=args.repeat
    )
    offset_page = args.depth // limit + 1
    v1_first_ms, _, _ = _timed_get(client, f"/api/v1/posts?page_size={limit}", repeat=args.repeat)
    v1_deep_ms, _, _ = _timed_get(
        client, f"/api/v1/posts?page={offset_page}&page_size={limit}", repeat=args.repeat
    )
    # The same two queries bare: the selector's pinned keyset seek vs OFFSET (v1's way).
    spec = ORDERINGS["-published_at"].with_leading("status")
    pinned_base = Post.objects.filter(pinned(status=Post.Status.PUBLISHED))
    sql_keyset_ms = _timed_query(
        lambda: list(
            pinned_base.filter(spec.seek(boundary))
            .order_by(*spec.order_by())
            .values("id", "title")[: limit + 1]
        ),
        repeat=args.repeat,
    )
    sql_offset_ms = _timed_query(
        lambda: list(
            Post.objects.published()
            .order_by("-published_at", "-id")
            .values("id", "title")[args.depth : args.depth + limit]
        ),
        repeat=args.repeat,
    )

    _, _, bytes_fields = _timed_get(
        client, "/api/v2/posts?limit=100&fields=id,title,slug", repeat=1
    )
    _, _, bytes_full = _timed_get(client, "/api/v2/posts?limit=100", repeat=1)
    _, _, bytes_included = _timed_get(
        client, "/api/v2/posts?limit=100&include=category,author,tags", repeat=1
    )
    from core import redis as coordination
    from posts import keys

    coordination.generation_bump(keys.generation_list())
    with CaptureQueriesContext(connection) as captured:
        client.get("/api/v2/posts?limit=100&include=category,author,tags")
    statements_includes = len(captured.captured_queries)
    coordination.generation_bump(keys.generation_list())
    with CaptureQueriesContext(connection) as captured:
        client.get("/api/v2/posts?limit=1&include=category,author,tags")
    statements_includes_1 = len(captured.captured_queries)

    # View counters: the request-path HINCRBY, then one flush of --views over --view-posts posts.
    coordination.call(lambda r: r.delete(keys.VIEWS_HASH, keys.VIEWS_FLUSHING_HASH))
    post_ids = list(Post.objects.order_by("id").values_list("id", flat=True)[: args.view_posts])
    hincr_n = 10_000
    started = time.perf_counter()
    for index in range(hincr_n):
        post_view_record(post_id=post_ids[index % len(post_ids)])
    hincr_seconds = time.perf_counter() - started

    def load_views(r) -> None:
        pipe = r.pipeline(transaction=False)
        for index in range(args.views - hincr_n):
            pipe.hincrby(keys.VIEWS_HASH, str(post_ids[index % len(post_ids)]), 1)
            if index % 10_000 == 9_999:
                pipe.execute()
        pipe.execute()

    coordination.call(load_views)
    with CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        flushed = post_views_flush()
        flush_seconds = time.perf_counter() - started
    updates = sum(1 for q in captured.captured_queries if q["sql"].startswith("UPDATE"))

    ratio = deep_ms / first_ms if first_ms else float("inf")
    lines = [
        "# Posts benchmark",
        "",
        f"Command: `.venv/bin/python bench/posts_bench.py {' '.join(sys.argv[1:])}`",
        f"Posts in table: {total:,} ({published:,} published); depth {args.depth:,}; "
        f"{args.repeat} timed requests per case (median), page cache defeated, rate limit off.",
        "",
        "## Deep pages (limit 20)",
        "",
        "| case | median ms |",
        "|---|---|",
        f"| v2 cursor page 1 | {first_ms:.2f} |",
        f"| v2 cursor page at depth {args.depth:,} | {deep_ms:.2f} |",
        f"| **ratio deep / first (target ≤ 1.5)** | **{ratio:.2f}** |",
        f"| v1 offset page 1 (`?page=1`, COUNT + OFFSET) | {v1_first_ms:.2f} |",
        f"| v1 offset page {offset_page} (same depth) | {v1_deep_ms:.2f} |",
        f"| SQL only: keyset seek at depth | {sql_keyset_ms:.2f} |",
        f"| SQL only: OFFSET {args.depth:,} | {sql_offset_ms:.2f} |",
        "",
        "## Payload, limit 100",
        "",
        "| selection | bytes |",
        "|---|---|",
        f"| `fields=id,title,slug` | {bytes_fields:,} |",
        f"| full default | {bytes_full:,} ({bytes_full / bytes_fields:.1f}x) |",
        f"| full + `include=category,author,tags` | {bytes_included:,} |",
        "",
        "## SQL statements per page, all includes",
        "",
        f"- limit 100: {statements_includes}; limit 1: {statements_includes_1}",
        "",
        "## View counters",
        "",
        f"- PostViewed (one HINCRBY via the service): {hincr_n / hincr_seconds:,.0f} views/s single-threaded",
        f"- flush: {flushed:,} views over {len(post_ids):,} posts in {flush_seconds * 1000:.0f} ms "
        f"= {flushed / flush_seconds:,.0f} views/s, {len(post_ids) / flush_seconds:,.0f} posts/s; "
        f"{updates} UPDATE statements (one per 1,000 posts)",
        "",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
