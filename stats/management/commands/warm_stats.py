"""`manage.py warm_stats`: compute the stats entry now (after a deploy or a Redis flush)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from core import redis as coordination
from stats.counters import counters_reconcile
from stats.services import stats_refresh


class Command(BaseCommand):
    help = (
        "Compute GET /api/stats now and store the entry and last-known-good copy "
        "(with STATS_SOURCE=counters, reconcile the counters first)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if settings.STATS_SOURCE == "counters":
                deltas = counters_reconcile()
                self.stdout.write(f"warm_stats: counters reconciled, deltas={deltas}")
            snapshot = stats_refresh()
        except DatabaseError as exc:
            raise CommandError(f"database unavailable: {exc}") from exc
        if snapshot is None:
            self.stdout.write("warm_stats: another process is computing the entry right now")
            return
        where = "redis" if coordination.is_configured() else "this process only (no REDIS_URL)"
        self.stdout.write(f"warm_stats: stored in {where}: {snapshot.body.decode()}")
