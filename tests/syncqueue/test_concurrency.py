"""Concurrent claimers and savers (threads with their own DB connections), injected clock."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connections

from accounts.models import User
from syncqueue import budget
from syncqueue.models import OutboxRecord, OutboxStatus
from syncqueue.services import outbox_push
from tests.factories import UserFactory


def _run_threads(count: int, target: Callable[[int], None]) -> list[BaseException]:
    errors: list[BaseException] = []

    def wrapper(index: int) -> None:
        try:
            target(index)
        except BaseException as exc:
            import traceback

            traceback.print_exc()
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=wrapper, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def _drain(now) -> None:  # type: ignore[no-untyped-def]
    while OutboxRecord.objects.due(now=now).exists():
        report = outbox_push(now=now, flush=True)
        if report.stopped_because in ("no_budget", "batch_budget_spent"):
            break


@pytest.mark.django_db(transaction=True)
def test_budget_is_never_exceeded_by_four_concurrent_workers(stub, clock, sync_settings):
    sync_settings.SYNC_SINGLE_CALLS_PER_WINDOW = 0
    stub.single_limit = 0
    for _ in range(100):
        UserFactory()
    windows = []
    while OutboxRecord.objects.exclude(status=OutboxStatus.SENT).exists():
        window = budget.window_of(clock.now())
        windows.append(window)
        errors = _run_threads(4, lambda _: outbox_push(now=clock.now()))
        assert errors == []
        assert budget.budget_used(kind="batch", window=window) == stub.counts[("batch", window)]
        assert stub.counts[("batch", window)] <= sync_settings.SYNC_BATCH_CALLS_PER_WINDOW
        clock.current = budget.window_start(window + 1)
        clock.advance(1)
        assert len(windows) < 10
    assert stub.over_limit == 0
    assert [stub.counts[("batch", window)] for window in windows] == [3, 3, 3, 1]
    assert stub.snapshot()["applies_total"] == 100


@pytest.mark.django_db(transaction=True)
def test_parallel_claimers_keep_each_users_versions_in_order(stub, clock, sync_settings):
    sync_settings.SYNC_COALESCE = False
    sync_settings.SYNC_BATCH_CALLS_PER_WINDOW = 1000
    stub.batch_limit = 1000
    users = [User.objects.get(pk=UserFactory().pk) for _ in range(20)]
    for round_number in range(6):
        for user in users:
            user.name = f"round {round_number}"
            user.save()
    assert OutboxRecord.objects.count() == 140
    errors = _run_threads(4, lambda _: _drain(clock.now()))
    assert errors == []
    snapshot = stub.snapshot()
    assert OutboxRecord.objects.exclude(status=OutboxStatus.SENT).count() == 0
    # A user's rows never overtook each other: no older version arrived after a newer one.
    assert snapshot["stale"] == 0
    assert snapshot["applies_total"] == 140 and snapshot["applied_twice"] == 0
    for user in User.objects.all():
        assert stub.held_users[user.pk]["version"] == user.sync_version == 7


@pytest.mark.django_db(transaction=True)
def test_saves_racing_claims_lose_no_change(stub, clock, sync_settings):
    sync_settings.SYNC_BATCH_CALLS_PER_WINDOW = 1000
    sync_settings.SYNC_SINGLE_CALLS_PER_WINDOW = 1000
    stub.batch_limit = stub.single_limit = 1000
    user_ids = [UserFactory().pk for _ in range(12)]
    stop = threading.Event()
    savers_left = [3]
    lock = threading.Lock()

    def act(index: int) -> None:
        if index >= 3:  # claimers push until the savers are done
            while not stop.is_set():
                outbox_push(now=clock.now(), flush=True)
            return
        try:
            for step in range(15):
                user = User.objects.get(pk=user_ids[(index * 5 + step) % len(user_ids)])
                user.plan = f"p{index}-{step}"
                user.save()
        finally:
            with lock:
                savers_left[0] -= 1
                if savers_left[0] == 0:
                    stop.set()

    errors = _run_threads(5, act)
    assert errors == []
    _drain(clock.now())
    assert (
        OutboxRecord.objects.exclude(
            status__in=(OutboxStatus.SENT, OutboxStatus.SUPERSEDED)
        ).count()
        == 0
    )
    for user in User.objects.filter(pk__in=user_ids):
        held = stub.held_users[user.pk]
        assert (held["version"], held["attributes"]["plan"]) == (user.sync_version, user.plan)
