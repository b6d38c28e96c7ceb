from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from syncqueue.services import outbox_archive


class Command(BaseCommand):
    help = "Delete sent/superseded outbox rows and provider calls past retention, in chunks."

    def handle(self, *args: Any, **options: Any) -> None:
        deleted = outbox_archive()
        self.stdout.write(
            f"deleted records={deleted['records']} calls={deleted['calls']} batches={deleted['batches']}"
        )
