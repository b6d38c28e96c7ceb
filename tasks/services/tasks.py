"""Writes to tasks. Every change bumps the owner's cache generation after commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from tasks.models import Task
from tasks.services.cache import task_cache_bump

# Fields a client may set; owner, completed_at and timestamps are the service's.
EDITABLE_FIELDS = ("title", "description", "status", "due_date")


def _bump_after_commit(owner_id: int) -> None:
    transaction.on_commit(lambda: task_cache_bump(user_id=owner_id))


def _completion_for(status: str, *, previous: datetime | None, now: datetime) -> datetime | None:
    """completed_at follows status: set on completion (kept if already set), cleared on reopen."""
    if status == Task.Status.COMPLETED:
        return previous or now
    return None


@transaction.atomic
def task_create(*, owner: Any, data: dict[str, Any], now: datetime | None = None) -> Task:
    """Create a task for `owner` from validated data."""
    now = now or timezone.now()
    fields = {name: data[name] for name in EDITABLE_FIELDS if name in data}
    status = fields.get("status", Task.Status.PENDING)
    task = Task.objects.create(
        owner=owner,
        completed_at=_completion_for(status, previous=None, now=now),
        created_at=now,
        **fields,
    )
    _bump_after_commit(task.owner_id)
    return task


@transaction.atomic
def task_update(*, task: Task, data: dict[str, Any], now: datetime | None = None) -> Task:
    """Apply validated fields to the task (row locked); completed_at follows the status."""
    now = now or timezone.now()
    locked = Task.objects.select_for_update().get(pk=task.pk)
    for name in EDITABLE_FIELDS:
        if name in data:
            setattr(locked, name, data[name])
    locked.completed_at = _completion_for(locked.status, previous=locked.completed_at, now=now)
    locked.save()
    _bump_after_commit(locked.owner_id)
    return locked


@transaction.atomic
def task_complete(*, task: Task, now: datetime | None = None) -> Task:
    """Mark the task done. Safe to call twice: the second call changes nothing."""
    changed = Task.objects.filter(pk=task.pk, completed_at__isnull=True).update(
        status=Task.Status.COMPLETED, completed_at=now or timezone.now(), updated_at=timezone.now()
    )
    if changed:
        _bump_after_commit(task.owner_id)
    return Task.objects.using("default").get(pk=task.pk)  # just written: not the replica


@transaction.atomic
def task_delete(*, task: Task) -> None:
    """Delete the task (its ledger rows go with it)."""
    owner_id = task.owner_id
    Task.objects.filter(pk=task.pk).delete()
    _bump_after_commit(owner_id)
