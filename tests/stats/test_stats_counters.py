"""Exact sharded counters (STATS_SOURCE=counters): writes, reads, reconcile, the refresh."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.db import connections

from stats.counters import (
    COUNTER_SLOTS,
    Metric,
    counters_prepare,
    counters_read,
    counters_reconcile,
    counters_user_added,
    order_create,
)
from stats.jobs import reconcile_stats_counters
from stats.models import CounterSlot, Order
from stats.seeding import seed
from stats.services import stats_compute
from tests.conftest import StatementCounter
from tests.stats.conftest import run_concurrently


@pytest.mark.django_db
def test_order_create_counts_the_order_in_its_transaction(user):
    order_create(user=user, amount=Decimal("12.34"))
    order_create(user=user, amount=Decimal("0.66"))

    values = counters_read()

    assert values[Metric.ORDERS_COUNT] == 2
    assert values[Metric.ORDERS_TOTAL_CENTS] == 1300
    assert Order.objects.count() == 2
    assert not CounterSlot.objects.filter(slot__gte=COUNTER_SLOTS).exists()


@pytest.mark.django_db(transaction=True)
def test_reconcile_adds_exactly_the_drift_of_writes_that_bypassed_the_counters():
    from tests.factories import UserFactory

    UserFactory.create_batch(5)  # not counted: nobody called counters_user_added
    counters_user_added(count=2)
    seed(count=7, progress=lambda done: None)  # bulk INSERT ... SELECT: bypasses counters
    expected_total = Order.objects.values_list("amount", flat=True)

    deltas = counters_reconcile()
    again = counters_reconcile()

    assert deltas[Metric.USERS] == 3
    assert deltas[Metric.ORDERS_COUNT] == 7
    assert counters_read() == {
        Metric.USERS: 5,
        Metric.ORDERS_COUNT: 7,
        Metric.ORDERS_TOTAL_CENTS: int(sum(expected_total) * 100),
    }
    assert again == {metric: 0 for metric in Metric.values}


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_counters_exact():
    from tests.factories import UserFactory

    owner = UserFactory()
    counters_prepare()  # the migration's rows; the test database was flushed since

    def write(index, client):
        order_create(user=owner, amount=Decimal("1.25"))

    run_concurrently(requests=64, threads=16, request=write)

    assert counters_read()[Metric.ORDERS_COUNT] == 64 == Order.objects.count()
    assert counters_read()[Metric.ORDERS_TOTAL_CENTS] == 64 * 125


@pytest.mark.django_db
def test_counters_source_refreshes_with_one_statement(user, settings):
    settings.STATS_SOURCE = "counters"
    order_create(user=user, amount=Decimal("2.50"))
    counters_user_added()
    counter = StatementCounter()

    with connections["default"].execute_wrapper(counter):
        snapshot = stats_compute()

    body = json.loads(snapshot.body)
    assert body == {**body, "users": 1, "orders": "2.50", "orders_count": 1}
    assert len(counter.statements) == 1
    assert "stats_counterslot" in counter.statements[0]


@pytest.mark.django_db
def test_reconcile_job_is_a_no_op_with_the_aggregates_source(user, settings):
    settings.STATS_SOURCE = "aggregates"
    before = counters_read()  # `user` exists but was never counted: a reconcile would add it

    reconcile_stats_counters()

    assert counters_read() == before


@pytest.mark.django_db
def test_reconcile_job_corrects_the_counters_with_the_counters_source(user, settings):
    settings.STATS_SOURCE = "counters"
    before = counters_read()

    reconcile_stats_counters()

    assert counters_read()[Metric.USERS] == 1
    assert before[Metric.USERS] == 0


@pytest.mark.django_db
def test_creating_a_user_counts_it_in_counters_mode(settings):
    from accounts.models import User
    from stats.counters import counters_read

    settings.STATS_SOURCE = "counters"
    before = counters_read(using="default").get("users", 0)
    User.objects.create_user("counted@example.com", "pw-12345678")
    assert counters_read(using="default").get("users", 0) == before + 1
    settings.STATS_SOURCE = "aggregates"
    User.objects.create_user("not-counted@example.com", "pw-12345678")
    assert counters_read(using="default").get("users", 0) == before + 1
