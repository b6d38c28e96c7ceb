"""Reads: task lookup with ownership, filtered lists, search, statistics, fan-out batches."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from core import redis as coordination
from tasks import keys
from tasks.localtime import local_date, local_day_range, zone_for
from tasks.models import Task, TaskDigestLedger, TaskReminderLedger

logger = logging.getLogger(__name__)

SEARCH_MAX_LENGTH = 200
# Everything but letters, digits and underscore is dropped: FULLTEXT operators (+-*()~<>"@)
# never reach MATCH, and "a@b.c" becomes three words (below the minimum token size: no match).
_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)

ORDERING_ALLOWED = (
    "created_at",
    "-created_at",
    "due_date",
    "-due_date",
    "updated_at",
    "-updated_at",
    "title",
    "-title",
    "status",
    "-status",
)
DEFAULT_ORDERING = "-created_at"


@dataclass(frozen=True)
class TaskFilters:
    status: str | None = None
    due_before: datetime | None = None
    due_after: datetime | None = None
    search: str | None = None
    ordering: str = DEFAULT_ORDERING


def _is_admin(user: Any) -> bool:
    return bool(getattr(user, "is_admin", False))


def task_queryset_for_user(*, user: Any) -> QuerySet[Task]:
    """Members see their own tasks; admins see all."""
    if _is_admin(user):
        return Task.objects.all()
    return Task.objects.for_owner(user.pk)


def task_get_for_user(*, pk: int, user: Any, using: str | None = None) -> Task:
    """The task if the user may see it; Http404 otherwise (never 403: ids don't leak)."""
    queryset = task_queryset_for_user(user=user)
    if using:
        queryset = queryset.using(using)
    task = queryset.filter(pk=pk).first()
    if task is None:
        raise Http404("task not found")
    return task


def search_terms(raw: str) -> str:
    """The words of a search string, operators stripped (see _NON_WORD)."""
    return _NON_WORD.sub(" ", raw).strip()


def _apply_search(queryset: QuerySet[Task], raw: str) -> QuerySet[Task]:
    terms = search_terms(raw)
    if not terms:
        return queryset.none()
    if connections[queryset.db].vendor == "mysql":
        table = Task._meta.db_table
        # Natural-language mode on the FULLTEXT index of migration 0002; the value is bound.
        return queryset.extra(  # noqa: S610
            where=[
                f"MATCH (`{table}`.`title`, `{table}`.`description`) "
                "AGAINST (%s IN NATURAL LANGUAGE MODE)"
            ],
            params=[terms],
        )
    query = Q()
    for word in terms.split():
        query &= Q(title__icontains=word) | Q(description__icontains=word)
    return queryset.filter(query)


def task_list_for_user(*, user: Any, filters: TaskFilters) -> QuerySet[Task]:
    """The user's visible tasks, filtered and ordered by an allow-listed field (id breaks ties)."""
    queryset = task_queryset_for_user(user=user)
    if filters.status:
        queryset = queryset.filter(status=filters.status)
    if filters.due_before is not None:
        queryset = queryset.filter(due_date__lt=filters.due_before)
    if filters.due_after is not None:
        queryset = queryset.filter(due_date__gte=filters.due_after)
    if filters.search:
        queryset = _apply_search(queryset, filters.search)
    ordering = filters.ordering if filters.ordering in ORDERING_ALLOWED else DEFAULT_ORDERING
    tiebreak = "-id" if ordering.startswith("-") else "id"
    return queryset.order_by(ordering, tiebreak)


# --------------------------------------------------------------------------- statistics


def _statistics(
    queryset: QuerySet[Task], *, now: datetime, day_start: datetime, day_end: datetime
) -> dict[str, int]:
    return queryset.aggregate(
        total=Count("id"),
        pending=Count("id", filter=Q(status=Task.Status.PENDING)),
        in_progress=Count("id", filter=Q(status=Task.Status.IN_PROGRESS)),
        completed=Count("id", filter=Q(status=Task.Status.COMPLETED)),
        overdue=Count("id", filter=Q(status__in=Task.ACTIVE_STATUSES, due_date__lt=now)),
        completed_today=Count(
            "id", filter=Q(completed_at__gte=day_start, completed_at__lt=day_end)
        ),
    )


def _shape(raw: dict[str, int], *, day: date, zone_name: str, now: datetime) -> dict[str, Any]:
    return {
        "total": raw["total"],
        "by_status": {
            Task.Status.PENDING.value: raw["pending"],
            Task.Status.IN_PROGRESS.value: raw["in_progress"],
            Task.Status.COMPLETED.value: raw["completed"],
        },
        "overdue": raw["overdue"],
        "completed_today": raw["completed_today"],
        "local_date": day.isoformat(),
        "time_zone": zone_name,
        "computed_at": now.isoformat(),
    }


def task_statistics_for_user(
    *, user: Any, now: datetime | None = None, using: str | None = None
) -> dict[str, Any]:
    """Counts of the user's own tasks: by status, overdue, completed on their local today."""
    now = now or timezone.now()
    zone = zone_for(user.timezone)
    day = local_date(now, zone)
    start, end = local_day_range(day, zone)
    queryset = Task.objects.for_owner(user.pk)
    if using:
        queryset = queryset.using(using)
    raw = _statistics(queryset, now=now, day_start=start, day_end=end)
    return _shape(raw, day=day, zone_name=zone.key, now=now)


def task_statistics_compute_global(*, now: datetime | None = None) -> dict[str, Any]:
    """Counts over all tasks; "completed today" is the day in settings.TIME_ZONE."""
    now = now or timezone.now()
    zone = zone_for(None)
    day = local_date(now, zone)
    start, end = local_day_range(day, zone)
    raw = _statistics(Task.objects.all(), now=now, day_start=start, day_end=end)
    return _shape(raw, day=day, zone_name=zone.key, now=now)


def task_global_statistics() -> dict[str, Any] | None:
    """The last global statistics stored by the 6-hourly job (coordination Redis), or None
    when never computed or Redis is unreachable. Public: the monitoring ops page calls it."""
    try:
        raw = coordination.value_get(keys.GLOBAL_STATISTICS_KEY)
    except coordination.CoordinationUnavailable:
        return None
    if raw is None:
        return None
    try:
        statistics: dict[str, Any] = json.loads(raw)
    except ValueError:
        logger.warning("global task statistics unreadable key=%s", keys.GLOBAL_STATISTICS_KEY)
        return None
    return statistics


# --------------------------------------------------------------------------- fan-out batches


def user_zone_groups() -> dict[str, list[str]]:
    """Resolved zone name → the raw `User.timezone` values that map to it (active users)."""
    values = (
        get_user_model()
        .objects.filter(is_active=True)
        .order_by()
        .values_list("timezone", flat=True)
        .distinct()
    )
    groups: dict[str, list[str]] = {}
    for value in values:
        groups.setdefault(zone_for(value).key, []).append(value)
    return groups


def _keyset_task_ids(
    queryset: QuerySet[Task],
    *,
    batch_size: int,
    owners_allowed: Callable[[set[int]], set[int]] | None = None,
) -> Iterator[list[int]]:
    """Batches of ids in (due_date, id) order, one status at a time: with the status fixed,
    the (due_date, status) index yields rows already in that order, so each read is one
    short range scan (no filesort, no rescans). `owners_allowed` filters a read's rows by
    owner with one primary-key lookup. Ids are packed into full batches; memory holds at most
    two batches."""
    pending: list[int] = []
    for status in Task.ACTIVE_STATUSES:
        last: tuple[datetime | None, int] | None = None
        while True:
            page = queryset.filter(status=status)
            if last is not None:
                page = page.filter(Q(due_date__gt=last[0]) | Q(due_date=last[0], pk__gt=last[1]))
            rows = list(
                page.order_by("due_date", "pk").values_list("due_date", "pk", "owner_id")[
                    :batch_size
                ]
            )
            allowed = owners_allowed({row[2] for row in rows}) if owners_allowed and rows else None
            pending.extend(pk for _, pk, owner in rows if allowed is None or owner in allowed)
            while len(pending) >= batch_size:
                yield pending[:batch_size]
                pending = pending[batch_size:]
            if len(rows) < batch_size:
                break
            last = rows[-1][:2]
    if pending:
        yield pending


def reminder_task_id_batches(
    *, zone_values: list[str], zone: ZoneInfo, due_on: date, batch_size: int
) -> Iterator[list[int]]:
    """Active tasks of active users whose `timezone` is one of `zone_values` (all resolving
    to `zone`), due on the local date `due_on`, with no due-tomorrow reminder recorded yet."""
    start, end = local_day_range(due_on, zone)
    already = TaskReminderLedger.objects.filter(
        task_id=OuterRef("pk"), kind=TaskReminderLedger.Kind.DUE_TOMORROW, local_date=due_on
    )
    # The owner's zone is checked per read (a primary-key lookup), not joined: with a join on
    # users, MariaDB's plan flips with table statistics to scanning every user and their
    # tasks (measured 13.7 s instead of 1 s at 1M tasks; bench/results/tasks.md).
    queryset = Task.objects.due_between(start, end).exclude(Exists(already))

    def owners_in_zone(owner_ids: set[int]) -> set[int]:
        return set(
            get_user_model()
            .objects.filter(pk__in=owner_ids, is_active=True, timezone__in=zone_values)
            .values_list("pk", flat=True)
        )

    yield from _keyset_task_ids(queryset, batch_size=batch_size, owners_allowed=owners_in_zone)


def overdue_task_id_batches(
    *, now: datetime, since: datetime, batch_size: int
) -> Iterator[list[int]]:
    """Active tasks that fell due in [since, now) and have no overdue alert sent after their
    current due instant (a moved due date gets a new alert)."""
    alerted = TaskReminderLedger.objects.filter(
        task_id=OuterRef("pk"),
        kind=TaskReminderLedger.Kind.OVERDUE,
        sent_at__gte=OuterRef("due_date"),
    )
    # No join on the owner here (inactive owners are skipped at send time): with one, MariaDB
    # drives the query from the users table instead of the (due_date, status) range.
    queryset = Task.objects.due_between(since, now).exclude(Exists(alerted))
    yield from _keyset_task_ids(queryset, batch_size=batch_size)


def digest_user_id_batches(
    *, zone_values: list[str], iso_year: int, iso_week: int, batch_size: int
) -> Iterator[list[int]]:
    """Active users in these zone values who own at least one task and have no digest for
    the ISO week yet, in id order (keyset)."""
    sent = TaskDigestLedger.objects.filter(
        user_id=OuterRef("pk"), iso_year=iso_year, iso_week=iso_week
    )
    has_tasks = Task.objects.filter(owner_id=OuterRef("pk"))
    queryset = (
        get_user_model()
        .objects.filter(is_active=True, timezone__in=zone_values)
        .filter(Exists(has_tasks))
        .exclude(Exists(sent))
    )
    last_id = 0
    while True:
        ids = list(
            queryset.filter(pk__gt=last_id).order_by("pk").values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return
        yield ids
        if len(ids) < batch_size:
            return
        last_id = ids[-1]


def digest_content_for_user(
    *, user: Any, week_start: date, now: datetime, item_limit: int
) -> dict[str, Any]:
    """What a weekly digest shows for the local Monday-Sunday starting `week_start`:
    tasks completed that week, tasks still open, and the open ones already overdue."""
    zone = zone_for(user.timezone)
    start, _ = local_day_range(week_start, zone)
    _, end = local_day_range(week_start + timedelta(days=6), zone)
    owned = Task.objects.for_owner(user.pk)
    in_week = Q(completed_at__gte=start, completed_at__lt=end)
    counts = owned.aggregate(
        completed=Count("id", filter=in_week),
        pending=Count("id", filter=Q(status__in=Task.ACTIVE_STATUSES)),
        overdue=Count("id", filter=Q(status__in=Task.ACTIVE_STATUSES, due_date__lt=now)),
    )
    week_end = week_start + timedelta(days=6)
    return {
        "week_start": week_start,
        "week_end": week_end,
        "time_zone": zone.key,
        "completed_count": counts["completed"],
        "completed": list(owned.filter(in_week).order_by("completed_at", "id")[:item_limit]),
        "pending_count": counts["pending"],
        "pending": list(owned.active().order_by("due_date", "id")[:item_limit]),
        "overdue_count": counts["overdue"],
        "overdue": list(owned.overdue(now=now).order_by("due_date", "id")[:item_limit]),
    }
