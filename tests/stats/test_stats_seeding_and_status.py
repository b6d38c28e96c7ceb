"""Bulk order seeding, the status selector monitoring reads, and warm_stats."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Count, Max, Min

from stats import keys
from stats.models import Order
from stats.seeding import seed
from stats.selectors import stats_entry_status
from tests.stats.conftest import redis_raw, store_entry


@pytest.mark.django_db
def test_seed_spreads_orders_over_existing_users_with_progress():
    from tests.factories import UserFactory

    users = UserFactory.create_batch(4)
    reported: list[int] = []

    inserted = seed(count=10, progress=reported.append)

    assert inserted == 10
    assert Order.objects.count() == 10
    per_user = Order.objects.values("user_id").annotate(n=Count("id"))
    assert {row["user_id"] for row in per_user} == {u.pk for u in users}
    assert sorted(row["n"] for row in per_user) == [2, 2, 3, 3]
    bounds = Order.objects.aggregate(low=Min("amount"), high=Max("amount"))
    assert Decimal("1.00") <= bounds["low"] <= bounds["high"] <= Decimal("500.99")
    assert reported[-1] == 10 and reported == sorted(reported)


@pytest.mark.django_db
def test_seed_without_users_refuses():
    with pytest.raises(ValueError, match="seed users first"):
        seed(count=5, progress=lambda done: None)


@pytest.mark.django_db
def test_status_reports_a_stale_entry_and_its_lkg(orders):
    snapshot = store_entry(age_seconds=400)

    status = stats_entry_status(at_ms=snapshot.computed_at_ms + 400_000)

    assert status["has_entry"] is True
    assert status["has_lkg"] is True
    assert status["is_stale"] is True
    assert status["age_seconds"] == pytest.approx(400.0)
    assert status["computed_at"].endswith("+00:00")
    assert status["source"] == "redis"


@pytest.mark.django_db
def test_status_without_entry_still_sees_the_lkg(orders):
    store_entry(age_seconds=5)
    redis_raw().delete(keys.ENTRY_KEY)

    status = stats_entry_status()

    assert status["has_entry"] is False
    assert status["has_lkg"] is True
    assert status["age_seconds"] is None


@pytest.mark.django_db
def test_warm_stats_stores_a_fresh_entry(orders):
    out = StringIO()

    call_command("warm_stats", stdout=out)

    assert '"orders_count":4' in out.getvalue()
    assert stats_entry_status()["is_stale"] is False
