"""Exact sharded counters for the stats numbers (STATS_SOURCE=counters).

COUNT(*) and SUM() scan whole tables: about 1.3 s at 1M users / 3M orders on the bench
machine and linear beyond. The counters make a refresh one statement over 96 small rows:

- writes: `order_create` (and `counters_user_added` for whoever creates users) add to one
  random slot of each metric in the writer's own transaction (32 slots: no single hot row);
- reads: `counters_read` sums the slots per metric;
- drift (bulk loads, raw SQL, deletes that bypass the services): `counters_reconcile`
  reads the true aggregates AND the slot sums in one consistent snapshot on a replica and
  adds the difference on the primary. Writes that keep table and counters in one
  transaction are in both or neither side of that snapshot, so the correction is exact.
"""

from __future__ import annotations

import logging
import random
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import OperationalError, connections, router, transaction
from django.db.models import Count, Sum

from core import redis as coordination
from stats.models import CounterSlot, Order

logger = logging.getLogger(__name__)

# Rows per metric. A writer locks one; 32 keeps concurrent order writers from queueing on one
# row while a read still sums only 96 rows.
COUNTER_SLOTS = 32
# A writer rolled back by InnoDB deadlock detection is retried this many times in all.
DEADLOCK_ATTEMPTS = 3
_DEADLOCK = 1213  # ER_LOCK_DEADLOCK
RECONCILE_LOCK_KEY = "stats:v1:reconcile"
RECONCILE_LOCK_SECONDS = 600

Metric = CounterSlot.Metric


def _cents(amount: Decimal) -> int:
    return int((Decimal(amount) * 100).to_integral_value())


_UPSERT_SQL = {
    # An upsert takes an exclusive lock on an existing row at once; INSERT-then-UPDATE takes a
    # shared lock on the duplicate first, and two such writers deadlock upgrading it.
    "mysql": (
        "INSERT INTO {table} (metric, slot, value) VALUES (%s, %s, %s) "
        "ON DUPLICATE KEY UPDATE value = value + VALUES(value)"
    ),
    "default": (
        "INSERT INTO {table} (metric, slot, value) VALUES (%s, %s, %s) "
        "ON CONFLICT (metric, slot) DO UPDATE SET value = {table}.value + excluded.value"
    ),
}


def counters_add(*, deltas: dict[str, int], using: str = "default") -> None:
    """Add `deltas` ({metric: amount}) to one random slot, inside the caller's transaction.

    One upsert per metric (a slot row is created on first use), in sorted metric order:
    a fixed lock order, so concurrent writers never deadlock.
    """
    slot = random.randrange(COUNTER_SLOTS)
    connection = connections[using]
    table = connection.ops.quote_name(CounterSlot._meta.db_table)
    sql = _UPSERT_SQL.get(connection.vendor, _UPSERT_SQL["default"]).format(table=table)
    with transaction.atomic(using=using), connection.cursor() as cursor:
        for metric in sorted(deltas):
            if deltas[metric]:
                cursor.execute(sql, [metric, slot, deltas[metric]])


def counters_prepare(*, using: str = "default") -> None:
    """Create every slot row (idempotent; own transaction). The migration does this once, so
    writers only ever update existing rows: concurrent first-use inserts of new keys take gap
    locks on the unique index and can deadlock each other."""
    CounterSlot.objects.using(using).bulk_create(
        [CounterSlot(metric=m, slot=s) for m in Metric.values for s in range(COUNTER_SLOTS)],
        ignore_conflicts=True,
    )


def order_create(*, user: Any, amount: Decimal, **fields: Any) -> Order:
    """Create an order and count it in the same transaction.

    A deadlock (MariaDB error 1213: InnoDB rolled the transaction back) is retried up to
    DEADLOCK_ATTEMPTS times when this is the outermost transaction; inside a caller's
    transaction it propagates, since only the caller can redo its work.
    """
    is_outermost = not connections["default"].in_atomic_block
    for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                order = Order.objects.create(user=user, amount=amount, **fields)
                counters_add(
                    deltas={
                        Metric.ORDERS_COUNT: 1,
                        Metric.ORDERS_TOTAL_CENTS: _cents(order.amount),
                    }
                )
            return order
        except OperationalError as exc:
            if not is_outermost or exc.args[0] != _DEADLOCK or attempt == DEADLOCK_ATTEMPTS:
                raise
            logger.info("order_create retried after deadlock attempt=%s", attempt)
    raise AssertionError("unreachable")  # the loop returns or raises


def counters_user_added(*, count: int = 1) -> None:
    """For the code that creates users: call inside the creating transaction."""
    counters_add(deltas={Metric.USERS: count})


def counters_read(*, using: str | None = None) -> dict[str, int]:
    """{metric: value} in one statement (a replica via the router unless `using`)."""
    queryset = CounterSlot.objects.all() if using is None else CounterSlot.objects.using(using)
    totals = {metric: 0 for metric in Metric.values}
    for row in queryset.order_by().values("metric").annotate(total=Sum("value")):
        totals[row["metric"]] = int(row["total"] or 0)
    return totals


def _true_values(*, using: str) -> dict[str, int]:
    users = get_user_model().objects.using(using).count()
    orders = Order.objects.using(using).aggregate(n=Count("*"), total=Sum("amount"))
    return {
        Metric.USERS: users,
        Metric.ORDERS_COUNT: int(orders["n"]),
        Metric.ORDERS_TOTAL_CENTS: _cents(orders["total"] or Decimal("0")),
    }


def counters_reconcile() -> dict[str, int] | None:
    """Recount on a replica and add the drift on the primary; returns the deltas applied.

    Returns None when another process is reconciling (a Redis lock; without Redis it runs).
    """
    token = None
    try:
        token = coordination.lock_acquire(RECONCILE_LOCK_KEY, ttl_seconds=RECONCILE_LOCK_SECONDS)
        if token is None:
            return None
    except coordination.CoordinationUnavailable:
        logger.warning("counters reconcile without its lock: coordination redis down")
    try:
        alias = router.db_for_read(CounterSlot)
        is_outermost = not connections[alias].in_atomic_block
        with transaction.atomic(using=alias):
            if connections[alias].vendor == "mysql" and is_outermost:
                # One snapshot for the recount and the slot sums (the project default is
                # READ COMMITTED, where each statement would see a different moment).
                with connections[alias].cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            true_values = _true_values(using=alias)
            counted = counters_read(using=alias)
        deltas = {metric: true_values[metric] - counted[metric] for metric in Metric.values}
        counters_prepare()
        counters_add(deltas=deltas)
        logger.info("stats counters reconciled deltas=%s", deltas)
        return deltas
    finally:
        if token is not None:
            try:
                coordination.lock_release(RECONCILE_LOCK_KEY, token)
            except coordination.CoordinationUnavailable:
                logger.warning("reconcile lock not released: redis down; it expires")
