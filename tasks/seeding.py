"""Bulk tasks for seed_demo and the benchmark: multi-row INSERTs over existing users.

Rows bypass the services (no cache bumps, no reminders): seeding is for empty demo or
benchmark databases. Values are deterministic per row number, so runs are repeatable.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from tasks.models import Task

# seed_demo option (`--tasks N`); apps are seeded in INSTALLED_APPS order (users first).
SEED_OPTION = "tasks"

# 5,000 rows per INSERT keeps each statement well under max_allowed_packet.
INSERT_BATCH_SIZE = 5_000
WORDS = (
    "report", "invoice", "review", "deploy", "budget", "meeting", "design", "backup",
    "migration", "interview", "release", "contract", "audit", "roadmap", "newsletter",
    "dentist", "groceries", "garden", "insurance", "passport",
)  # fmt: skip


def seed(*, count: int, progress: Callable[[int], None]) -> int:
    """Insert `count` tasks spread over the existing users; returns the number inserted."""
    owner_ids = list(get_user_model().objects.order_by("pk").values_list("pk", flat=True))
    if not owner_ids or count <= 0:
        return 0
    now = timezone.now().replace(microsecond=0)
    table = connection.ops.quote_name(Task._meta.db_table)
    columns = (
        "owner_id", "title", "description", "status", "due_date",
        "completed_at", "created_at", "updated_at",
    )  # fmt: skip
    sql = (
        f"INSERT INTO {table} ({', '.join(connection.ops.quote_name(c) for c in columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))})"
    )
    statuses = (Task.Status.PENDING, Task.Status.IN_PROGRESS, Task.Status.COMPLETED)
    inserted = 0
    while inserted < count:
        size = min(INSERT_BATCH_SIZE, count - inserted)
        rows = []
        for offset in range(inserted, inserted + size):
            status = statuses[offset % 3]
            created = now - timedelta(minutes=(offset * 7) % (90 * 24 * 60))
            # Due dates from 30 days ago to 30 days ahead, at varied minutes.
            due = now + timedelta(minutes=((offset * 37) % (60 * 24 * 60)) - 30 * 24 * 60)
            first, second = WORDS[offset % len(WORDS)], WORDS[(offset // 7) % len(WORDS)]
            rows.append(
                (
                    owner_ids[offset % len(owner_ids)],
                    f"{first.title()} {second} #{offset}",
                    f"Remember the {second} before the {first}.",
                    status,
                    due if offset % 10 else None,
                    created + timedelta(hours=1) if status == Task.Status.COMPLETED else None,
                    created,
                    created,
                )
            )
        # mysqlclient turns executemany of one INSERT into multi-row INSERT statements.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(sql, rows)
        inserted += size
        progress(inserted)
    return inserted
