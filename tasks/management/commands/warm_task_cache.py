"""Fill the task statistics cache for one user (--user ID) or every user who owns tasks."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tasks.models import Task
from tasks.services import task_statistics_warm

# Owner ids are read in pages of this size so memory stays flat with many users.
OWNER_PAGE_SIZE = 1_000


class Command(BaseCommand):
    help = "Warm cached task statistics (per user generation) for --user ID, or all task owners."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", type=int, default=None, help="only this user id")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["user"] is not None:
            outcome = task_statistics_warm(user_id=options["user"])
            if outcome == "missing":
                raise CommandError(f"user {options['user']} does not exist")
            self.stdout.write(f"warm_task_cache: user={options['user']} outcome={outcome}")
            return
        counts: dict[str, int] = {}
        last_id = 0
        while True:
            owner_ids = list(
                Task.objects.filter(owner_id__gt=last_id)
                .order_by("owner_id")
                .values_list("owner_id", flat=True)
                .distinct()[:OWNER_PAGE_SIZE]
            )
            if not owner_ids:
                break
            for owner_id in owner_ids:
                outcome = task_statistics_warm(user_id=owner_id)
                counts[outcome] = counts.get(outcome, 0) + 1
            last_id = owner_ids[-1]
        summary = " ".join(f"{name}={count}" for name, count in sorted(counts.items()))
        self.stdout.write(f"warm_task_cache: {summary or 'no task owners'}")
