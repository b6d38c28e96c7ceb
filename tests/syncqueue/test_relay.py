"""Relay against the stub (real HTTP server), on an injected clock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import Count

from accounts.models import User
from syncqueue import budget
from syncqueue.models import OutboxBatch, OutboxRecord, OutboxStatus, ProviderCall
from syncqueue.services import (
    outbox_claim,
    outbox_push,
    outbox_reclaim_expired,
    outbox_requeue,
    outbox_tick,
)
from tests.factories import UserFactory


def _statuses() -> dict[str, int]:
    rows = OutboxRecord.objects.values_list("status").annotate(n=Count("id"))
    return {OutboxStatus(status).label: n for status, n in rows}


def _assert_provider_matches_database(stub) -> None:
    for user in User.objects.all():
        held = stub.held_users[user.pk]
        assert held["version"] == user.sync_version
        assert held["attributes"]["name"] == user.name
        assert held["attributes"]["plan"] == user.plan


@pytest.mark.django_db
def test_full_batch_goes_out_as_one_call_and_partial_waits(stub, clock):
    [UserFactory() for _ in range(14)]
    report = outbox_push(now=clock.now())
    assert report.batch_calls == 1 and report.single_calls == 0
    assert report.stopped_because == "partial"
    assert _statuses() == {"sent": 10, "unsent": 4}
    assert stub.snapshot()["counts"] == {f"batch:{budget.window_of(clock.now())}": 1}
    call = ProviderCall.objects.get()
    assert (call.endpoint, call.records, call.status_code) == ("POST /v1/users/batch", 10, 200)
    # Not old enough for the partial-batch rule yet.
    assert outbox_tick(now=clock.advance(5)).batch_calls == 0
    assert _statuses()["unsent"] == 4
    report = outbox_tick(now=clock.advance(30))
    assert report.batch_calls == 1
    assert _statuses() == {"sent": 14}
    _assert_provider_matches_database(stub)


@pytest.mark.django_db
def test_small_remainder_goes_as_single_calls(stub, clock, sync_settings):
    sync_settings.SYNC_BATCH_SIZE = 40  # 5 % of 40 = 2 records or fewer go as singles
    [UserFactory() for _ in range(2)]
    report = outbox_tick(now=clock.advance(31))
    assert (report.batch_calls, report.single_calls) == (0, 2)
    assert _statuses() == {"sent": 2}
    assert ProviderCall.objects.filter(endpoint="PUT /v1/users/{id}").count() == 2
    _assert_provider_matches_database(stub)


@pytest.mark.django_db
def test_budget_spent_means_rows_wait_for_the_next_window(stub, clock, sync_settings):
    sync_settings.SYNC_SINGLE_CALLS_PER_WINDOW = 0
    stub.single_limit = 0
    [UserFactory() for _ in range(45)]
    report = outbox_push(now=clock.now())
    assert report.batch_calls == 3
    assert report.stopped_because == "no_budget"
    assert _statuses() == {"sent": 30, "unsent": 15}
    window = budget.window_of(clock.now())
    assert budget.budget_used(kind="batch", window=window) == 3
    clock.current = budget.window_start(window + 1)
    report = outbox_tick(now=clock.advance(1))
    assert report.batch_calls == 2
    assert _statuses() == {"sent": 45}
    assert stub.over_limit == 0
    assert sum(stub.counts.values()) == 5


@pytest.mark.django_db
def test_server_error_is_retried_after_backoff(stub, clock):
    [UserFactory() for _ in range(10)]
    stub.control({"error_rate": 1.0})
    report = outbox_push(now=clock.now())
    assert report.outcomes == ["error"]
    failed = list(OutboxRecord.objects.all())
    assert {row.status for row in failed} == {OutboxStatus.FAILED}
    assert {row.retry_count for row in failed} == {1}
    assert "HTTP 500" in failed[0].last_error
    wait = (failed[0].next_attempt_at - clock.now()).total_seconds()
    assert 15 <= wait <= 30  # backoff 30 s with jitter in [15, 30]
    stub.control({"error_rate": 0.0})
    assert outbox_tick(now=clock.advance(5)).batch_calls == 0  # not due yet
    report = outbox_tick(now=clock.advance(30))
    assert report.batch_calls == 1
    assert _statuses() == {"sent": 10}
    _assert_provider_matches_database(stub)


@pytest.mark.django_db
def test_outage_then_recovery_delivers_everything(stub, clock):
    [UserFactory() for _ in range(10)]
    stub.control({"outage": True})
    for _ in range(3):
        outbox_tick(now=clock.advance(120))
    assert _statuses() == {"failed": 10}
    # Backoff 15-30 s, then 30-60 s, then 60-120 s: each 120 s tick found the rows due.
    assert OutboxRecord.objects.first().retry_count == 3
    stub.control({"outage": False})
    outbox_tick(now=clock.advance(600))
    assert _statuses() == {"sent": 10}
    _assert_provider_matches_database(stub)
    # Every call is in the log: three refused by the outage, then the one that went through.
    snapshot = stub.snapshot()
    assert snapshot["outage_refusals"] == 3 and sum(stub.counts.values()) == 1
    assert ProviderCall.objects.filter(status_code=503).count() == 3
    assert ProviderCall.objects.count() == 4


@pytest.mark.django_db
def test_backoff_follows_the_configured_base_and_cap(stub, clock, sync_settings):
    """The provider-outage drill compresses time through these two settings."""
    sync_settings.SYNC_BACKOFF_BASE_SECONDS = 4
    sync_settings.SYNC_BACKOFF_CAP_SECONDS = 10
    [UserFactory() for _ in range(10)]
    stub.control({"outage": True})
    waits = []
    for _ in range(4):
        outbox_tick(now=clock.advance(20))
        row = OutboxRecord.objects.first()
        waits.append((row.next_attempt_at - clock.now()).total_seconds())
    assert OutboxRecord.objects.first().retry_count == 4
    # 4 * 2^(tries - 1) s, capped at 10, half of it jittered: [2, 4], [4, 8], then [5, 10].
    for wait, (low, high) in zip(waits, [(2, 4), (4, 8), (5, 10), (5, 10)], strict=True):
        assert low <= wait <= high, waits


@pytest.mark.django_db
def test_429_pauses_the_budget_without_burning_attempts(stub, clock):
    [UserFactory() for _ in range(10)]
    stub.control({"force_429_seconds": 40})
    report = outbox_push(now=clock.now())
    assert report.outcomes == ["rate_limited"]
    rows = list(OutboxRecord.objects.all())
    assert {row.retry_count for row in rows} == {0}
    assert {row.next_attempt_at for row in rows} == {clock.now() + timedelta(seconds=40)}
    stub.control({"force_429_seconds": 0})
    # Paused: nothing is even reserved until Retry-After passed.
    reservation = budget.budget_reserve(kind="batch", now=clock.advance(20))
    assert not reservation.is_granted and reservation.remaining == -1
    report = outbox_tick(now=clock.advance(21))
    assert report.batch_calls == 1
    assert _statuses() == {"sent": 10}
    assert {row.retry_count for row in OutboxRecord.objects.all()} == {0}


@pytest.mark.django_db
def test_timeout_is_retried_and_applied_once(stub, clock, sync_settings):
    sync_settings.SYNC_PROVIDER_TIMEOUT_SECONDS = 0.3
    from syncqueue import client

    client.reset_clients()
    [UserFactory() for _ in range(10)]
    stub.control({"hold": "after_apply"})  # applied, but the answer never comes in time
    report = outbox_push(now=clock.now())
    assert report.outcomes == ["error"]
    assert OutboxRecord.objects.first().last_error.startswith("timeout")
    stub.release()
    outbox_tick(now=clock.advance(60))
    assert _statuses() == {"sent": 10}
    snapshot = stub.snapshot()
    assert snapshot["replays"] == 10  # the retry was answered from the idempotency memory
    assert snapshot["applied_twice"] == 0 and snapshot["applies_total"] == 10
    _assert_provider_matches_database(stub)


@pytest.mark.django_db
def test_provider_timeout_control_fails_the_call(stub, clock, sync_settings):
    sync_settings.SYNC_PROVIDER_TIMEOUT_SECONDS = 0.3
    from syncqueue import client

    client.reset_clients()
    [UserFactory() for _ in range(10)]
    stub.control({"timeout": True})
    assert outbox_push(now=clock.now()).outcomes == ["error"]
    stub.control({"timeout": False})
    outbox_tick(now=clock.advance(60))
    assert _statuses() == {"sent": 10}
    assert stub.snapshot()["applies_total"] == 10


@pytest.mark.django_db
def test_partial_rejection_retries_only_the_rejected_rows(stub, clock):
    users = [UserFactory() for _ in range(10)]
    bad = users[3]
    stub.control({"reject_user_ids": [bad.pk], "reject_times": 1})
    outbox_push(now=clock.now())
    assert _statuses() == {"sent": 9, "failed": 1}
    row = OutboxRecord.objects.get(user=bad)
    assert (row.status, row.retry_count, row.last_error) == (
        OutboxStatus.FAILED,
        1,
        "invalid attributes",
    )
    outbox_tick(now=clock.advance(60))
    assert _statuses() == {"sent": 10}
    assert stub.snapshot()["records_received"] == 11  # the nine good rows were not sent again
    _assert_provider_matches_database(stub)


@pytest.mark.django_db
def test_rejected_row_with_a_newer_delivered_state_is_superseded(stub, clock, sync_settings):
    sync_settings.SYNC_COALESCE = False
    users = [UserFactory() for _ in range(9)]
    bad = User.objects.get(pk=UserFactory().pk)
    stub.control({"reject_user_ids": [bad.pk], "reject_times": 1})
    outbox_push(now=clock.now())
    old = OutboxRecord.objects.get(user=bad)
    assert old.status == OutboxStatus.FAILED
    bad.plan = "team"
    bad.save()
    for user in users:
        user.name = "next"
        user.save()
    # The old row is not due yet (backoff); the new one goes first and supersedes it.
    outbox_push(now=clock.advance(1))
    old.refresh_from_db()
    assert old.status == OutboxStatus.SUPERSEDED
    assert OutboxRecord.objects.get(user=bad, version=2).status == OutboxStatus.SENT
    received = stub.snapshot()["records_received"]
    outbox_tick(now=clock.advance(3600))
    assert stub.snapshot()["records_received"] == received  # superseded rows are never retried
    _assert_provider_matches_database(stub)


@pytest.mark.django_db
def test_rejected_row_in_the_same_batch_as_its_newer_state_is_superseded(
    stub, clock, sync_settings
):
    sync_settings.SYNC_COALESCE = False
    users = [UserFactory() for _ in range(8)]
    bad = User.objects.get(pk=users[0].pk)
    bad.plan = "team"
    bad.save()  # rows: bad v1, 7 others, bad v2 -> one batch of 9... plus one more user
    UserFactory()
    stub.control({"reject_user_ids": [bad.pk], "reject_times": 1})
    outbox_push(now=clock.now())
    rows = {row.version: row.status for row in OutboxRecord.objects.filter(user=bad)}
    assert rows == {1: OutboxStatus.SUPERSEDED, 2: OutboxStatus.SENT}
    assert _statuses() == {"sent": 9, "superseded": 1}


@pytest.mark.django_db
def test_row_always_rejected_is_parked_without_holding_up_others(stub, clock, sync_settings):
    from tests.syncqueue.helpers import sync_alerts_evaluate

    users = [UserFactory() for _ in range(10)]
    bad = users[5]
    stub.control({"reject_user_ids": [bad.pk]})
    outbox_push(now=clock.now())
    for _ in range(4):
        outbox_tick(now=clock.advance(1800))
    row = OutboxRecord.objects.get(user=bad)
    assert (row.status, row.retry_count) == (OutboxStatus.PARKED, sync_settings.SYNC_MAX_RETRIES)
    assert _statuses() == {"sent": 9, "parked": 1}
    # Other users keep flowing while the row is parked.
    users[0].name = "moving on"
    users[0].save()
    outbox_tick(now=clock.advance(60))
    assert OutboxRecord.objects.filter(user=users[0], status=OutboxStatus.SENT).count() == 2
    assert sync_alerts_evaluate(now=clock.now())["sync.parked"] is True
    # An admin requeue sends it again; now the provider accepts it.
    stub.control({"reject_user_ids": []})
    assert outbox_requeue(record_ids=[row.pk], now=clock.now()) == 1
    outbox_tick(now=clock.advance(60))
    row.refresh_from_db()
    assert row.status == OutboxStatus.SENT
    assert sync_alerts_evaluate(now=clock.now())["sync.parked"] is False


@pytest.mark.django_db
def test_expired_lease_goes_back_to_unsent_and_is_delivered(stub, clock, sync_settings):
    [UserFactory() for _ in range(10)]
    batch = outbox_claim(kind="batch", limit=10, now=clock.now())  # its worker "dies" here
    assert _statuses() == {"pending": 10}
    assert outbox_reclaim_expired(now=clock.advance(30)) == 0  # lease still valid
    assert outbox_push(now=clock.now()).stopped_because == "empty"
    assert outbox_reclaim_expired(now=clock.advance(31)) == 10
    batch.refresh_from_db()
    assert batch.state == OutboxBatch.State.EXPIRED
    assert _statuses() == {"unsent": 10}
    assert outbox_push(now=clock.now()).batch_calls == 1
    assert _statuses() == {"sent": 10}


@pytest.mark.django_db
def test_user_in_flight_is_not_claimed_again(stub, clock, sync_settings):
    sync_settings.SYNC_COALESCE = False
    user = User.objects.get(pk=UserFactory().pk)
    others = [UserFactory() for _ in range(3)]
    first = outbox_claim(kind="batch", limit=1, now=clock.now())
    assert list(first.records.values_list("user_id", flat=True)) == [user.pk]
    user.name = "newer"
    user.save()
    second = outbox_claim(kind="batch", limit=10, now=clock.now())
    claimed = set(second.records.values_list("user_id", flat=True))
    assert claimed == {other.pk for other in others}
    assert OutboxRecord.objects.get(user=user, version=2).status == OutboxStatus.UNSENT


@pytest.mark.django_db
def test_redis_down_sends_nothing(stub, clock, sync_settings):
    from core import redis as coordination

    [UserFactory() for _ in range(10)]
    sync_settings.REDIS_URL = "redis://127.0.0.1:1/10"
    coordination.reset_clients()
    with pytest.raises(coordination.CoordinationUnavailable):
        outbox_push(now=clock.now())
    assert _statuses() == {"unsent": 10}
    assert stub.snapshot()["records_received"] == 0
    assert ProviderCall.objects.count() == 0


@pytest.mark.django_db
def test_single_calls_carry_on_when_the_batch_budget_is_spent(stub, clock, sync_settings):
    sync_settings.SYNC_BATCH_CALLS_PER_WINDOW = stub.batch_limit = 1
    sync_settings.SYNC_SINGLE_CALLS_PER_WINDOW = stub.single_limit = 4
    [UserFactory() for _ in range(25)]
    report = outbox_tick(now=clock.now())
    assert (report.batch_calls, report.single_calls) == (1, 4)
    assert _statuses() == {"sent": 14, "unsent": 11}
    assert stub.over_limit == 0
    window = budget.window_of(clock.now())
    assert budget.budget_used(kind="single", window=window) == stub.counts[("single", window)] == 4


@pytest.mark.django_db
def test_a_failing_provider_costs_one_call_per_run_not_the_budget(stub, clock):
    [UserFactory() for _ in range(30)]
    stub.control({"outage": True})
    report = outbox_push(now=clock.now())
    assert (report.batch_calls, report.stopped_because) == (1, "provider_failed")
    assert _statuses() == {"failed": 10, "unsent": 20}
    stub.control({"outage": False})
    outbox_tick(now=clock.advance(10))
    assert _statuses() == {"sent": 20, "failed": 10}  # the failed batch waits out its backoff


@pytest.mark.django_db
def test_busy_claim_lock_refunds_the_reservation_and_raises_claim_busy(
    stub, clock, sync_settings, monkeypatch
):
    from core import redis as coordination
    from syncqueue import jobs, keys
    from syncqueue.services import ClaimBusy, claim

    [UserFactory() for _ in range(10)]
    monkeypatch.setattr(claim, "CLAIM_LOCK_WAIT_SECONDS", 0.05)
    token = coordination.lock_acquire(keys.CLAIM_LOCK_KEY, ttl_seconds=30)
    assert token  # another claimer holds the lock
    window = budget.window_of(clock.now())
    try:
        with pytest.raises(ClaimBusy):
            outbox_push(now=clock.now())
        assert budget.budget_used(kind="batch", window=window) == 0  # refunded, not leaked
        assert jobs.sync_tick.run() == {"skipped": "claim_busy"}
    finally:
        coordination.lock_release(keys.CLAIM_LOCK_KEY, token)
    assert budget.budget_used(kind="batch", window=window) == 0
    assert _statuses() == {"unsent": 10}
    assert stub.snapshot()["records_received"] == 0
