"""Bulk orders for seed_demo: INSERT ... SELECT over existing users, no model instances.

Each statement walks the next slice of users by primary key (wrapping around) and inserts
one order per user, so 3,000,000 orders over 1,000,000 users are 30 statements of 100,000
rows executed entirely inside the database. Amounts are deterministic (1.00-500.99).
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from stats.models import Order

# seed_demo option (`--orders N`); apps are seeded in INSTALLED_APPS order (users first).
SEED_OPTION = "orders"

# 100,000 rows per INSERT ... SELECT: about a second each on MariaDB, small undo log.
INSERT_BATCH_SIZE = 100_000


def seed(*, count: int, progress: Callable[[int], None]) -> int:
    """Insert `count` orders spread over the existing users; returns the number inserted.

    Raises ValueError when there are no users to own them (seed users first).
    """
    user_model = get_user_model()
    users_table = connection.ops.quote_name(user_model._meta.db_table)
    orders_table = connection.ops.quote_name(Order._meta.db_table)
    if not user_model.objects.using("default").exists():
        raise ValueError("no users to own the orders; seed users first (--users N)")
    sql = (
        f"INSERT INTO {orders_table} (user_id, amount, created_at) "
        f"SELECT u.id, 1 + ((u.id * 7919 + %s) %% 50000) / 100.0, %s "
        f"FROM (SELECT id FROM {users_table} WHERE id > %s ORDER BY id LIMIT %s) u"
    )
    now = timezone.now()
    inserted = 0
    after_id = 0
    round_number = 0
    while inserted < count:
        size = min(INSERT_BATCH_SIZE, count - inserted)
        with transaction.atomic(using="default"), connection.cursor() as cursor:
            cursor.execute(sql, [round_number, now, after_id, size])
            added = cursor.rowcount
            if added > 0:
                cursor.execute(
                    f"SELECT MAX(id) FROM (SELECT id FROM {users_table} WHERE id > %s "
                    f"ORDER BY id LIMIT %s) u",
                    [after_id, added],
                )
                after_id = cursor.fetchone()[0]
        if added <= 0:  # past the last user: wrap around for the next round
            after_id = 0
            round_number += 1
            continue
        inserted += added
        progress(inserted)
    return inserted
