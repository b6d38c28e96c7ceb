"""Capture: a tracked-attribute change becomes (or merges into) an outbox row in the
caller's transaction, and the user's `sync_version` moves up by one."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from core import redis as coordination
from core.jobs import enqueue
from syncqueue import keys
from syncqueue.models import OutboxRecord, OutboxStatus

logger = logging.getLogger(__name__)

WRITE_CHUNK_ROWS = 500  # rows per multi-row INSERT: well under max_allowed_packet


def _attributes(values: dict[str, Any]) -> dict[str, Any]:
    return {name: values[name] for name in settings.SYNC_TRACKED_FIELDS if name in values}


def outbox_capture_user_change(*, user: Any, changed_fields: list[str], is_creation: bool) -> None:
    """Record a tracked-attribute change in the outbox, in the caller's transaction.

    Bumps `User.sync_version` with a conditional UPDATE (the user row stays locked until the
    caller commits, so versions follow commit order), reads back the row's tracked state and
    writes or merges the user's one unsent row (SYNC_COALESCE). Rolled back → nothing stays.
    """
    user_model = type(user)
    using = user._state.db or "default"
    _bump_versions(user_model=user_model, user_ids=[user.pk], using=using)
    row = (
        user_model.objects.using(using)
        .filter(pk=user.pk)
        .values("sync_version", *settings.SYNC_TRACKED_FIELDS)
        .get()
    )
    user.sync_version = row["sync_version"]
    is_new_row = outbox_write(
        user_id=user.pk, version=row["sync_version"], attributes=_attributes(row), using=using
    )
    if is_new_row:  # a merge leaves the backlog's size as it was: nothing to check
        transaction.on_commit(outbox_backlog_check, using=using)


def on_tracked_fields_changed(
    *, user: Any, changed_fields: list[str], is_creation: bool, **_: Any
) -> None:
    """Receiver of accounts.signals.tracked_fields_changed (connected in SyncqueueConfig.ready)."""
    outbox_capture_user_change(user=user, changed_fields=changed_fields, is_creation=is_creation)


def on_tracked_fields_bulk_changed(*, user_ids: list[int], using: str, **_: Any) -> None:
    """Receiver of accounts.signals.tracked_fields_bulk_changed."""
    outbox_capture_users_bulk(user_ids=user_ids, using=using)


def _bump_versions(*, user_model: Any, user_ids: list[int], using: str) -> None:
    """sync_version = max(sync_version, newest outbox version of the user) + 1.

    The max guards against a save from a stale instance: Model.save() writes every field, so
    it may just have written an old sync_version back; the outbox still holds the newest one
    (until archival), and the provider would ignore a version that went backwards.
    """
    users_table = user_model._meta.db_table
    outbox_table = OutboxRecord._meta.db_table
    greatest = "GREATEST" if connections[using].vendor == "mysql" else "MAX"
    placeholders = ", ".join(["%s"] * len(user_ids))
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"UPDATE {users_table} SET sync_version = {greatest}(sync_version, COALESCE("
            f"(SELECT MAX(o.version) FROM {outbox_table} o WHERE o.user_id = {users_table}.id), 0)"
            f") + 1 WHERE id IN ({placeholders})",
            user_ids,
        )


def outbox_capture_users_bulk(*, user_ids: list[int], using: str = "default") -> None:
    """Bulk form of outbox_capture_user_change for users whose tracked fields were just
    written in the caller's transaction: one version bump, one read-back, one multi-row write."""
    if not user_ids:
        return
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    users = user_model.objects.using(using).filter(pk__in=user_ids)
    _bump_versions(user_model=user_model, user_ids=list(user_ids), using=using)
    rows = list(users.order_by("pk").values("pk", "sync_version", *settings.SYNC_TRACKED_FIELDS))
    outbox_write_many(
        states=[(row["pk"], row["sync_version"], _attributes(row)) for row in rows], using=using
    )
    transaction.on_commit(outbox_backlog_check, using=using)


def outbox_write_many(
    *,
    states: list[tuple[int, int, dict[str, Any]]],
    using: str = "default",
    now: datetime | None = None,
) -> None:
    """outbox_write for many (user_id, version, attributes) states, in multi-row statements."""
    now = now or timezone.now()
    connection = connections[using]
    if settings.SYNC_COALESCE and connection.vendor != "mysql":
        for user_id, version, attributes in states:
            outbox_write(
                user_id=user_id, version=version, attributes=attributes, using=using, now=now
            )
        return
    if not settings.SYNC_COALESCE:
        OutboxRecord.objects.using(using).bulk_create(
            [
                _new_row(user_id=user_id, version=version, attributes=attributes, now=now)
                for user_id, version, attributes in states
            ],
            batch_size=WRITE_CHUNK_ROWS,
        )
        return
    for start in range(0, len(states), WRITE_CHUNK_ROWS):
        chunk = states[start : start + WRITE_CHUNK_ROWS]
        params: list[Any] = []
        for user_id, version, attributes in chunk:
            params += _upsert_params(
                user_id=user_id, version=version, attributes=attributes, now=now
            )
        with connection.cursor() as cursor:
            cursor.execute(_upsert_sql(rows=len(chunk)), params)


def _new_row(
    *, user_id: int, version: int, attributes: dict[str, Any], now: datetime
) -> OutboxRecord:
    """An unsaved unsent row for this state (not mergeable: unsent_user_id unset)."""
    return OutboxRecord(
        user_id=user_id,
        payload={"user_id": user_id, "attributes": attributes},
        version=version,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )


def _upsert_sql(*, rows: int) -> str:
    """MariaDB: insert `rows` unsent rows, each merged into the user's unsent row if one exists
    (the unique unsent_user_id decides insert vs merge; the newer version wins, payload and
    version together: an older state arriving later changes neither).

    MariaDB applies the assignments left to right, each seeing the ones before it, so the
    payload is compared with the row's version before `version` itself moves."""
    values = ", ".join(["(%s, %s, %s, %s, %s, 0, '', %s, %s, %s)"] * rows)
    return (
        f"INSERT INTO {OutboxRecord._meta.db_table} (user_id, unsent_user_id, payload, version,"
        " status, retry_count, last_error, next_attempt_at, created_at, updated_at)"
        f" VALUES {values}"
        " ON DUPLICATE KEY UPDATE"
        " payload = IF(VALUES(version) > version, VALUES(payload), payload),"
        " updated_at = VALUES(updated_at),"
        " version = GREATEST(version, VALUES(version))"
    )


def _upsert_params(
    *, user_id: int, version: int, attributes: dict[str, Any], now: datetime
) -> list[Any]:
    payload = json.dumps({"user_id": user_id, "attributes": attributes})
    return [user_id, user_id, payload, version, OutboxStatus.UNSENT, now, now, now]


def outbox_write(
    *,
    user_id: int,
    version: int,
    attributes: dict[str, Any],
    using: str = "default",
    now: datetime | None = None,
) -> bool:
    """Insert a row for this state, or merge it into the user's unsent row when coalescing.
    Returns whether a new row was inserted."""
    now = now or timezone.now()
    if not settings.SYNC_COALESCE:
        _new_row(user_id=user_id, version=version, attributes=attributes, now=now).save(
            using=using, force_insert=True
        )
        return True
    connection = connections[using]
    if connection.vendor == "mysql":
        with connection.cursor() as cursor:
            # One statement: a row being claimed right now holds its lock, so we wait and then
            # insert a fresh row.
            cursor.execute(
                _upsert_sql(rows=1),
                _upsert_params(user_id=user_id, version=version, attributes=attributes, now=now),
            )
            # MariaDB: 1 row affected = inserted, 2 = merged into the existing row.
            inserted: bool = cursor.rowcount == 1
            return inserted
    with transaction.atomic(using=using):
        existing = (
            OutboxRecord.objects.using(using)
            .select_for_update()
            .filter(unsent_user_id=user_id)
            .first()
        )
        row = _new_row(user_id=user_id, version=version, attributes=attributes, now=now)
        if existing is None:
            row.unsent_user_id = user_id  # the user's one mergeable row
            row.save(using=using, force_insert=True)
            return True
        if version > existing.version:
            OutboxRecord.objects.using(using).filter(pk=existing.pk).update(
                payload=row.payload, version=version, updated_at=now
            )
        return False


def outbox_backlog_check() -> bool:
    """After commit: if a full batch is waiting, enqueue the push job (at most one queued).

    Cheap: one index probe (the SYNC_BATCH_SIZE-th unsent row exists?) and, only then, a Redis
    SET NX that dedupes enqueues across processes. Never raises. Returns whether it enqueued.
    """
    try:
        size = settings.SYNC_BATCH_SIZE
        has_full_batch = (
            OutboxRecord.objects.filter(status=OutboxStatus.UNSENT)
            .order_by("status", "next_attempt_at", "id")
            .values_list("id", flat=True)[size - 1 : size]
            .exists()
        )
        if not has_full_batch:
            return False
        if not coordination.value_set(keys.KICK_KEY, "1", ttl_seconds=30, nx=True):
            return False
        return enqueue("syncqueue.jobs.push_outbox_batches")
    except Exception as exc:  # after commit nothing may fail the caller; the tick catches up
        logger.warning("sync backlog check skipped error=%s", exc)
        return False
