"""Demo and benchmark data in bulk.

Each app contributes a `seeding.py` with `SEED_OPTION` (the `--<option> N` it answers to) and
`seed(*, count: int, progress: Callable) -> int`; this command finds them through the app
registry and calls them in INSTALLED_APPS order (accounts first, so users exist before the
rows that reference them). A seeding module that fails to import fails the command. Rows are written with multi-row
INSERTs and one precomputed password hash, so signals, `save()` and syncqueue capture are
bypassed on purpose: seeded users are not queued for the provider.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.utils.module_loading import module_has_submodule


def seeders() -> list[tuple[str, ModuleType]]:
    """(option, module) for every installed app with a `seeding` module, in INSTALLED_APPS order."""
    found = []
    for app_config in apps.get_app_configs():
        if module_has_submodule(app_config.module, "seeding"):
            module = importlib.import_module(f"{app_config.name}.seeding")
            found.append((module.SEED_OPTION, module))
    return found


class Command(BaseCommand):
    help = (
        "Insert demo data in bulk (multi-row INSERTs, one precomputed password hash). "
        "Bypasses signals, User.save() and syncqueue capture: seeded users are NOT sent to the "
        "provider. Demo logins (admin, editor, member): see the README."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        for option, _ in seeders():
            parser.add_argument(
                f"--{option}", type=int, default=0, help=f"number of {option} to insert"
            )
        parser.add_argument(
            "--if-empty", action="store_true", help="do nothing when users already exist (make run)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["if_empty"] and get_user_model().objects.exists():
            self.stdout.write("seed_demo: data present, skipping")
            return
        for option, module in seeders():
            count = options[option]
            if count <= 0:
                continue
            started = time.monotonic()
            inserted = module.seed(count=count, progress=self._progress(option, count))
            self.stdout.write(
                f"seed_demo: {inserted} {option} in {time.monotonic() - started:.1f}s"
            )

    def _progress(self, label: str, total: int) -> Callable[[int], None]:
        """A redrawn bar on a terminal, ended by a newline; one plain line per step otherwise
        (logs and pipes), so nothing written afterwards runs into it."""
        is_terminal = self.stdout.isatty()

        def report(done: int) -> None:
            if not is_terminal:
                self.stdout.write(f"seed_demo: {label} {done}/{total}")
                return
            width = 30
            filled = int(width * done / total) if total else width
            bar = f"\r{label:<7} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}"
            self.stdout.write(bar, ending="\n" if done >= total else "")
            self.stdout.flush()

        return report
