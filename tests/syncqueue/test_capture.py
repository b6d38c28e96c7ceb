from __future__ import annotations

import threading

import pytest
from django.db import connections, transaction

from accounts.models import User
from accounts.services import users_bulk_update
from syncqueue.models import OutboxRecord, OutboxStatus
from tests.factories import UserFactory


def _rows(user: User) -> list[OutboxRecord]:
    return list(OutboxRecord.objects.filter(user=user).order_by("id"))


@pytest.mark.django_db
def test_creation_is_captured_with_version_one(sync_settings):
    user = UserFactory(name="Ada", plan="pro")
    (row,) = _rows(user)
    assert row.version == 1 == User.objects.get(pk=user.pk).sync_version
    assert row.status == OutboxStatus.UNSENT
    assert row.unsent_user_id == user.pk
    assert row.payload["user_id"] == user.pk
    assert row.payload["attributes"]["name"] == "Ada"
    assert row.payload["attributes"]["plan"] == "pro"
    assert set(row.payload["attributes"]) == set(sync_settings.SYNC_TRACKED_FIELDS)


@pytest.mark.django_db
def test_tracked_change_on_save_merges_into_the_unsent_row(sync_settings):
    user = UserFactory(name="Ada")
    user = User.objects.get(pk=user.pk)
    user.name = "Grace"
    user.save()
    (row,) = _rows(user)
    assert row.version == 2 == User.objects.get(pk=user.pk).sync_version == user.sync_version
    assert row.payload["attributes"]["name"] == "Grace"


@pytest.mark.django_db
def test_without_coalescing_every_change_is_its_own_row(sync_settings):
    sync_settings.SYNC_COALESCE = False
    user = UserFactory(name="v1")
    for name in ("v2", "v3"):
        user.name = name
        user.save()
    rows = _rows(user)
    assert [row.version for row in rows] == [1, 2, 3]
    assert [row.payload["attributes"]["name"] for row in rows] == ["v1", "v2", "v3"]
    assert all(row.unsent_user_id is None for row in rows)


@pytest.mark.django_db
def test_unwatched_field_change_writes_nothing(sync_settings):
    user = User.objects.get(pk=UserFactory().pk)
    OutboxRecord.objects.all().delete()
    user.role = User.Role.EDITOR
    user.is_active = False
    user.save()
    user.set_password("another-Pass-1")
    user.save()
    assert OutboxRecord.objects.count() == 0
    assert User.objects.get(pk=user.pk).sync_version == 1


@pytest.mark.django_db
def test_update_fields_limits_capture_to_saved_fields(sync_settings):
    user = User.objects.get(pk=UserFactory().pk)
    OutboxRecord.objects.all().delete()
    user.phone = "+331234"
    user.save(update_fields=["is_active"])
    assert OutboxRecord.objects.count() == 0
    user.save(update_fields=["phone"])
    (row,) = OutboxRecord.objects.all()
    assert row.payload["attributes"]["phone"] == "+331234"


@pytest.mark.django_db
def test_rolled_back_save_leaves_no_row_and_no_version(sync_settings):
    user = User.objects.get(pk=UserFactory().pk)
    OutboxRecord.objects.all().delete()
    with pytest.raises(RuntimeError), transaction.atomic():
        user.plan = "team"
        user.save()
        assert OutboxRecord.objects.count() == 1
        raise RuntimeError("roll back")
    assert OutboxRecord.objects.count() == 0
    fresh = User.objects.get(pk=user.pk)
    assert fresh.sync_version == 1
    assert fresh.plan != "team"


@pytest.mark.django_db
def test_bulk_update_service_captures_each_changed_user(sync_settings):
    users = [UserFactory(plan="free") for _ in range(4)]
    OutboxRecord.objects.all().delete()
    changed = users_bulk_update(
        updates={
            users[0].pk: {"plan": "pro"},
            users[1].pk: {"plan": "team", "locale": "fr"},
            users[2].pk: {"plan": "free"},  # no change
            999_999_999: {"plan": "pro"},  # unknown id
        }
    )
    assert changed == 2
    rows = {row.user_id: row for row in OutboxRecord.objects.all()}
    assert set(rows) == {users[0].pk, users[1].pk}
    assert rows[users[1].pk].payload["attributes"]["locale"] == "fr"
    assert rows[users[1].pk].version == 2 == User.objects.get(pk=users[1].pk).sync_version
    assert User.objects.get(pk=users[2].pk).sync_version == 1


@pytest.mark.django_db
def test_bulk_update_refuses_untracked_fields(sync_settings):
    user = UserFactory()
    with pytest.raises(ValueError, match="role"):
        users_bulk_update(updates={user.pk: {"role": "admin"}})
    assert User.objects.get(pk=user.pk).role == "member"


@pytest.mark.django_db(transaction=True)
def test_concurrent_saves_coalesce_into_one_row_with_the_latest_state(sync_settings):
    user = UserFactory(name="start")
    threads_count, saves_each = 8, 5
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            for step in range(saves_each):
                with transaction.atomic():
                    fresh = User.objects.select_for_update().get(pk=user.pk)
                    fresh.name = f"t{index}-s{step}"
                    fresh.save()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    final = User.objects.get(pk=user.pk)
    rows = _rows(user)
    assert len(rows) == 1
    assert rows[0].version == final.sync_version == 1 + threads_count * saves_each
    assert rows[0].payload["attributes"]["name"] == final.name


@pytest.mark.django_db(transaction=True)
def test_concurrent_stale_instance_saves_never_lose_the_latest_version(sync_settings):
    """Saves from stale in-memory instances (no select_for_update) still produce one row
    whose version and payload match the database after the last commit."""
    user = UserFactory(name="start")
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            instance = User.objects.get(pk=user.pk)
            barrier.wait()
            instance.plan = f"plan-{index}"
            instance.save()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    final = User.objects.get(pk=user.pk)
    (row,) = _rows(user)
    assert row.version == final.sync_version == 7
    assert row.payload["attributes"]["plan"] == final.plan
