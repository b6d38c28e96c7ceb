"""Task, its QuerySet, and the ledgers that make reminders and digests happen at most once."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone


class TaskQuerySet(models.QuerySet["Task"]):
    def active(self) -> TaskQuerySet:
        """Tasks still to do: pending or in progress."""
        return self.filter(status__in=Task.ACTIVE_STATUSES)

    def for_owner(self, owner_id: int) -> TaskQuerySet:
        return self.filter(owner_id=owner_id)

    def due_between(self, start: datetime, end: datetime) -> TaskQuerySet:
        """Due in the half-open UTC range [start, end): local days are converted by the caller."""
        return self.filter(due_date__gte=start, due_date__lt=end)

    def overdue(self, *, now: datetime | None = None) -> TaskQuerySet:
        """Active tasks whose due instant has passed."""
        return self.active().filter(due_date__lt=now or timezone.now())


class Task(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Completed"

    ACTIVE_STATUSES = (Status.PENDING, Status.IN_PROGRESS)

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tasks"
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # An instant (UTC in the database); "due tomorrow" is decided in the owner's time zone.
    due_date = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TaskQuerySet.as_manager()

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [
            # Lists and statistics of one owner, filtered by status.
            models.Index(fields=["owner", "status"], name="task_owner_status_idx"),
            # Reminder/overdue scans: a due range, then the status.
            models.Index(fields=["due_date", "status"], name="task_due_status_idx"),
            # "Completed today" and weekly digests per owner.
            models.Index(fields=["owner", "completed_at"], name="task_owner_completed_idx"),
            models.Index(fields=["created_at"], name="task_created_idx"),
        ]
        # The FULLTEXT index on (title, description) is MariaDB-only: migration 0002.

    def __str__(self) -> str:
        return self.title

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    def is_overdue(self, now: datetime) -> bool:
        return self.is_active and self.due_date is not None and self.due_date < now


class TaskReminderLedger(models.Model):
    """One row per reminder sent: unique on (task, kind, the due date's user-local date).

    The row is inserted in the same transaction as the send, so a duplicate beat tick, a retry
    or a second worker racing on the same task finds the row (or waits for its lock) and skips.
    """

    class Kind(models.TextChoices):
        DUE_TOMORROW = "due_tomorrow", "Due tomorrow"
        OVERDUE = "overdue", "Overdue"

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    local_date = models.DateField()
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["task", "kind", "local_date"], name="task_reminder_once"
            )
        ]
        indexes = [
            models.Index(fields=["sent_at"], name="task_reminder_sent_idx"),
            # The fan-out's "not reminded yet" anti-join reads one (kind, date) slice.
            models.Index(fields=["kind", "local_date", "task"], name="task_reminder_day_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} task={self.task_id} {self.local_date}"


class TaskDigestLedger(models.Model):
    """One row per weekly digest: unique on (user, ISO year, ISO week of the covered week)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    iso_year = models.PositiveSmallIntegerField()
    iso_week = models.PositiveSmallIntegerField()
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "iso_year", "iso_week"], name="task_digest_once"
            )
        ]
        indexes = [models.Index(fields=["sent_at"], name="task_digest_sent_idx")]

    def __str__(self) -> str:
        return f"digest user={self.user_id} {self.iso_year}-W{self.iso_week:02d}"
