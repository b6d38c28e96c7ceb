"""Demo and benchmark data in bulk.

Each app contributes a `seeding.py` with `seed(*, count: int, progress: Callable) -> int`;
this command calls them in dependency order (users first). Rows are written with multi-row
INSERTs and one precomputed password hash, so signals, `save()` and syncqueue capture are
bypassed on purpose: seeded users are not queued for the provider.
"""

from __future__ import annotations

import importlib
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

# (option, app module): users must exist before the rows that reference them.
SEEDERS = (
    ("users", "accounts.seeding"),
    ("orders", "stats.seeding"),
    ("posts", "posts.seeding"),
    ("tasks", "tasks.seeding"),
)


class Command(BaseCommand):
    help = (
        "Insert demo data in bulk (multi-row INSERTs, one precomputed password hash). "
        "Bypasses signals, User.save() and syncqueue capture: seeded users are NOT sent to the "
        "provider. Demo login: demo@example.com / demo-password."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        for option, _ in SEEDERS:
            parser.add_argument(
                f"--{option}", type=int, default=0, help=f"number of {option} to insert"
            )
        parser.add_argument(
            "--if-empty", action="store_true", help="do nothing when users already exist (make run)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from accounts.models import User

        if options["if_empty"] and User.objects.exists():
            self.stdout.write("seed_demo: data present, skipping")
            return
        for option, module_name in SEEDERS:
            count = options[option]
            if count <= 0:
                continue
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError:
                self.stderr.write(f"seed_demo: {module_name} not available, skipping {option}")
                continue
            started = time.monotonic()
            inserted = module.seed(count=count, progress=self._progress(option, count))
            self.stdout.write("")
            self.stdout.write(
                f"seed_demo: {inserted} {option} in {time.monotonic() - started:.1f}s"
            )

    def _progress(self, label: str, total: int):
        def report(done: int) -> None:
            width = 30
            filled = int(width * done / total) if total else width
            self.stdout.write(
                f"\r{label:<7} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", ending=""
            )
            self.stdout.flush()

        return report
