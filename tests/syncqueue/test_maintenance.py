"""Archival, alerts, the overview selector, commands, admin requeue and the stub's own HTTP API."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import httpx
import pytest
from django.core.management import call_command
from django.test import Client

from accounts.models import User
from syncqueue import budget
from syncqueue.models import OutboxBatch, OutboxRecord, OutboxStatus, ProviderCall
from syncqueue.selectors import sync_overview
from syncqueue.services import outbox_archive, outbox_push, outbox_tick
from tests.factories import UserFactory
from tests.syncqueue.helpers import sync_alerts_evaluate


@pytest.mark.django_db
def test_archive_deletes_only_old_delivered_rows_and_old_calls(stub, clock, sync_settings):
    sync_settings.SYNC_COALESCE = False
    users = [UserFactory() for _ in range(10)]
    outbox_push(now=clock.now())  # 10 sent now
    users[0].name = "pending change"
    users[0].save()  # one unsent row
    assert ProviderCall.objects.count() == 1
    clock.advance(sync_settings.SYNC_RETENTION_DAYS * 86400 + 60)
    fresh = UserFactory()  # a recent unsent row
    deleted = outbox_archive(now=clock.now(), chunk_rows=3)
    assert deleted["records"] == 10
    assert deleted["calls"] == 0  # calls are kept longer (30 days)
    assert deleted["batches"] == 0  # its call still points at it
    remaining = set(OutboxRecord.objects.values_list("user_id", "status"))
    assert remaining == {(users[0].pk, OutboxStatus.UNSENT), (fresh.pk, OutboxStatus.UNSENT)}
    clock.advance(20 * 86400)
    deleted = outbox_archive(now=clock.now())
    assert deleted == {"records": 0, "calls": 1, "batches": 1}
    assert OutboxBatch.objects.count() == 0
    assert OutboxRecord.objects.count() == 2  # never delete what was not delivered


@pytest.mark.django_db
def test_sync_archive_command_and_job(stub, clock, sync_settings):
    from syncqueue.jobs import sync_archive

    [UserFactory() for _ in range(10)]
    outbox_push(now=clock.now())
    clock.advance(sync_settings.SYNC_RETENTION_DAYS * 86400 + 60)
    out = StringIO()
    call_command("sync_archive", stdout=out)
    assert "deleted records=10" in out.getvalue()
    assert sync_archive.delay().get()["records"] == 0
    assert OutboxRecord.objects.count() == 0


@pytest.mark.django_db
def test_alerts_fire_and_resolve_on_backlog_age_and_failures(stub, clock, sync_settings):
    sync_settings.ALERT_OUTBOX_OLDEST_SECONDS = 600
    [UserFactory() for _ in range(10)]
    assert not any(sync_alerts_evaluate(now=clock.now()).values())
    stub.control({"outage": True})
    for _ in range(sync_settings.SYNC_MAX_RETRIES):
        outbox_tick(now=clock.advance(3600))
    firing = sync_alerts_evaluate(now=clock.now())
    assert firing["sync.persistent_failures"] and firing["sync.backlog_age"]
    assert not firing["sync.parked"]
    stub.control({"outage": False})
    outbox_tick(now=clock.advance(3600))
    assert not any(sync_alerts_evaluate(now=clock.now()).values())


@pytest.mark.django_db
def test_budget_exhausted_windows_in_a_row_fire_an_alert(stub, clock, sync_settings):
    sync_settings.ALERT_BUDGET_EXHAUSTED_WINDOWS = 2
    sync_settings.SYNC_BATCH_CALLS_PER_WINDOW = stub.batch_limit = 1
    sync_settings.SYNC_SINGLE_CALLS_PER_WINDOW = stub.single_limit = 0
    [UserFactory() for _ in range(40)]
    outbox_push(now=clock.now())
    assert sync_alerts_evaluate(now=clock.now())["sync.budget_exhausted"] is False
    clock.current = budget.window_start(budget.window_of(clock.now()) + 1) + timedelta(seconds=1)
    outbox_push(now=clock.now())
    assert sync_alerts_evaluate(now=clock.now())["sync.budget_exhausted"] is True
    clock.advance(3 * sync_settings.SYNC_WINDOW_SECONDS)
    assert sync_alerts_evaluate(now=clock.now())["sync.budget_exhausted"] is False


@pytest.mark.django_db
def test_sync_overview_reports_backlog_budget_and_calls(stub, clock):
    [UserFactory() for _ in range(13)]
    clock.advance(7)
    outbox_push(now=clock.now())
    overview = sync_overview(now=clock.advance(5))
    assert overview["records_by_status"] == {
        "unsent": 3,
        "pending": 0,
        "sent": 10,
        "failed": 0,
        "parked": 0,
        "superseded": 0,
    }
    assert overview["oldest_unsent_seconds"] == 12.0
    assert overview["budget_remaining"] == {"batch": 2, "single": 20}
    assert overview["window_resets_in_seconds"] == 60 - 22
    (call,) = overview["recent_calls"]
    assert (call["endpoint"], call["records"], call["status"]) == ("POST /v1/users/batch", 10, 200)


@pytest.mark.django_db
def test_sync_status_command_prints_the_overview(stub, clock):
    UserFactory()
    out = StringIO()
    call_command("sync_status", stdout=out)
    assert "unsent      1" in out.getvalue()
    assert "budget left: batch=3 single=20" in out.getvalue()
    out = StringIO()
    call_command("sync_status", "--json", stdout=out)
    assert json.loads(out.getvalue())["records_by_status"]["unsent"] == 1


@pytest.mark.django_db
def test_sync_batch_without_coalescing_makes_exactly_two_batch_calls(
    stub, sync_settings, django_capture_on_commit_callbacks
):
    sync_settings.SYNC_COALESCE = False
    sync_settings.SYNC_BATCH_SIZE = 1000
    sync_settings.SYNC_BATCH_CALLS_PER_WINDOW = stub.batch_limit = 50
    # Each save's after-commit backlog check runs (eager jobs: the push runs inline).
    with django_capture_on_commit_callbacks(execute=True):
        call_command("sync_batch", "100", stdout=StringIO())
    assert OutboxRecord.objects.count() == 2000
    assert dict(stub.counts) == {("batch", stub.window()): 2}
    assert ProviderCall.objects.filter(records=1000, status_code=200).count() == 2
    assert OutboxRecord.objects.filter(status=OutboxStatus.SENT).count() == 2000


@pytest.mark.django_db
def test_sync_batch_with_coalescing_sends_each_users_latest_state_once(stub, clock, sync_settings):
    sync_settings.SYNC_BATCH_SIZE = 1000
    call_command("sync_batch", "10", stdout=StringIO())
    assert OutboxRecord.objects.count() == 20
    assert sum(stub.counts.values()) == 0  # a partial batch waits for SYNC_MAX_DELAY
    outbox_tick(now=clock.advance(sync_settings.SYNC_MAX_DELAY_SECONDS + 1))
    assert stub.snapshot()["records_received"] == 20
    for user in User.objects.filter(email__startswith="sync-demo-"):
        assert stub.held_users[user.pk]["version"] == user.sync_version == 10
        assert stub.held_users[user.pk]["attributes"]["name"] == user.name


@pytest.mark.django_db
def test_admin_requeue_action_sends_a_parked_row_again(stub, clock, sync_settings):
    admin = User.objects.create_superuser(email="root@example.com", password="pw-Secret-1")
    user = UserFactory()
    row = OutboxRecord.objects.get(user=user)
    OutboxRecord.objects.filter(pk=row.pk).update(
        status=OutboxStatus.PARKED, unsent_user_id=None, retry_count=3
    )
    client = Client()
    client.force_login(admin)
    response = client.post(
        "/admin/syncqueue/outboxrecord/",
        {"action": "requeue", "_selected_action": [row.pk]},
    )
    assert response.status_code == 302
    row.refresh_from_db()
    assert (row.status, row.retry_count) == (OutboxStatus.UNSENT, 0)
    for path in (
        "/admin/syncqueue/outboxrecord/",
        "/admin/syncqueue/outboxbatch/",
        "/admin/syncqueue/providercall/",
    ):
        assert client.get(path).status_code == 200


@pytest.mark.django_db
def test_stub_http_contract_limits_and_controls(stub, clock):
    base = stub.url
    record = {"idempotency_key": "1:1", "user_id": 1, "version": 1, "attributes": {"plan": "pro"}}
    with httpx.Client(base_url=base) as http:
        too_many = [dict(record, idempotency_key=f"k{i}") for i in range(1001)]
        assert http.post("/v1/users/batch", json={"records": too_many}).status_code == 413
        assert http.post("/v1/users/batch", json={"records": "nope"}).status_code == 400
        assert http.put("/v1/users/2", json=record).status_code == 400
        first = http.put("/v1/users/1", json=record).json()
        assert first == {"idempotency_key": "1:1", "status": "ok", "applied": True, "error": None}
        assert http.put("/v1/users/1", json=record).json() == first  # idempotent replay
        older = dict(record, idempotency_key="0:0", version=0)
        assert http.put("/v1/users/1", json=older).json()["applied"] is False
        for i in range(3):
            batch = [dict(record, idempotency_key=f"b{i}", version=10 + i)]
            assert http.post("/v1/users/batch", json={"records": batch}).status_code == 200
        over = http.post("/v1/users/batch", json={"records": [record]})
        assert over.status_code == 429
        assert over.headers["Retry-After"] == "50"  # the window ends 50 s from now
        assert http.post("/_control", json={"reject_user_ids": [1]}).status_code == 200
        rejected = http.put("/v1/users/1", json=dict(record, idempotency_key="r", version=99))
        assert (rejected.status_code, rejected.json()["status"]) == (422, "rejected")
        assert http.post("/_control", json={"hold": "sideways"}).status_code == 400
        state = http.get("/_state").json()
        assert state["over_limit"] == 1 and state["rejections"] == 1
        assert state["users"]["1"]["version"] == 12
        assert http.get("/_state/users/1").json()["attributes"] == {"plan": "pro"}
        http.post("/_control", json={"reset": True})
        assert http.get("/_state").json()["users"] == {}


def test_run_provider_stub_command_serves_the_contract():
    import subprocess
    import sys

    from django.conf import settings

    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_provider_stub", "--port", "0", "--window-seconds", "5"],
        cwd=str(settings.BASE_DIR),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "window 5 s" in line
        url = line.split(" on ")[1].split(" ")[0]
        record = {"idempotency_key": "1:1", "user_id": 7, "version": 1, "attributes": {}}
        with httpx.Client(base_url=url) as http:
            answer = http.post("/v1/users/batch", json={"records": [record]}).json()
            assert answer["results"][0]["applied"] is True
            assert http.get("/_state").json()["users"]["7"]["version"] == 1
    finally:
        process.terminate()
        process.wait(timeout=10)
