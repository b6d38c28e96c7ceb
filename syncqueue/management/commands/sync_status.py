from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand

from syncqueue.selectors import sync_overview


class Command(BaseCommand):
    help = "Outbox backlog by status, oldest row age, budgets left and the last provider calls."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--json", action="store_true", help="print the overview as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        overview = sync_overview()
        if options["json"]:
            self.stdout.write(json.dumps(overview, indent=2))
            return
        self.stdout.write("records by status:")
        for status, count in overview["records_by_status"].items():
            self.stdout.write(f"  {status:<11} {count}")
        oldest = overview["oldest_unsent_seconds"]
        self.stdout.write(f"oldest unsent: {'-' if oldest is None else f'{oldest:.0f} s'}")
        budget = overview["budget_remaining"]
        self.stdout.write(
            f"budget left: batch={budget['batch']} single={budget['single']}"
            f" (window resets in {overview['window_resets_in_seconds']} s)"
        )
        self.stdout.write("last calls:")
        for call in overview["recent_calls"]:
            self.stdout.write(
                f"  {call['at']} {call['endpoint']} records={call['records']}"
                f" status={call['status']} {call['duration_ms']} ms {call['error']}"
            )
