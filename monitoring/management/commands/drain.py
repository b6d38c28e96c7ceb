"""`manage.py drain`: make /api/health answer 503 so the load balancer stops routing here.

Deploy order: `manage.py drain --wait` → SIGTERM gunicorn. Requests keep succeeding while
draining; only the health answer changes. `--cancel` ends a drain early.

With `--wait` the server is about to be stopped: health keeps answering 503 for
STOP_GRACE_SECONDS after the wait, through gunicorn's graceful shutdown (30 s), so a load
balancer never routes to it again in between; the next start clears the drain
(deploy/gunicorn.conf.py, when_ready).
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from monitoring import health

# gunicorn's graceful_timeout (deploy/gunicorn.conf.py) plus margin for the stop itself.
STOP_GRACE_SECONDS = 60


class Command(BaseCommand):
    help = "Start (or cancel) draining: health answers 503 for DRAIN_SECONDS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seconds", type=int, default=None, help="default DRAIN_SECONDS")
        parser.add_argument("--cancel", action="store_true", help="stop draining now")
        parser.add_argument(
            "--wait", action="store_true", help="return only when the drain period is over"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["cancel"]:
            removed = health.drain_cancel()
            self.stdout.write("drain cancelled" if removed else "not draining")
            return
        seconds = options["seconds"] if options["seconds"] is not None else settings.DRAIN_SECONDS
        started = time.time()
        grace = STOP_GRACE_SECONDS if options["wait"] else 0
        health.drain_start(seconds=seconds + grace, now=started)
        self.stdout.write(f"draining for {seconds}s (file {settings.DRAIN_FILE})")
        if options["wait"]:
            # the deploy script's pause, by design
            time.sleep(max(0.0, started + seconds - time.time()))
            self.stdout.write("drain period over; health stays 503 until the server stops")
