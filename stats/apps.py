from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_save


def _count_created_user(
    sender: Any, instance: Any, created: bool, raw: bool = False, **_: Any
) -> None:
    """STATS_SOURCE=counters: count a new user in the creating transaction (User.save wraps
    creation in one). Bulk inserts (seed_demo) bypass this; the periodic recount corrects them."""
    if created and not raw and settings.STATS_SOURCE == "counters":
        from stats.counters import counters_user_added

        counters_user_added(count=1)


class StatsConfig(AppConfig):
    name = "stats"

    def ready(self) -> None:
        from monitoring.registry import gauge_register
        from stats.selectors import stats_entry_status

        gauge_register(name="stats", read=stats_entry_status)
        post_save.connect(
            _count_created_user, sender=settings.AUTH_USER_MODEL, dispatch_uid="stats-count-users"
        )
