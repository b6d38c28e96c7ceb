"""Beat bookkeeping: when each beat schedule last ran to success (read by
`monitoring.selectors.beat_success_get`, exported as `beat_last_success_timestamp`)."""

from __future__ import annotations

import logging
import time

from core import redis as coordination
from monitoring import keys

logger = logging.getLogger(__name__)


def beat_success_record(*, task_name: str, now: float | None = None) -> list[str]:
    """Store "now" as the last success of each beat schedule that runs `task_name`."""
    from config.celery import BEAT_SCHEDULE

    schedules = [name for name, entry in BEAT_SCHEDULE.items() if entry.get("task") == task_name]
    if not schedules:
        return []
    moment = now if now is not None else time.time()
    if not coordination.is_configured():
        for schedule in schedules:
            coordination.local_store.set(f"{keys.BEAT_SUCCESS_KEY}:{schedule}", moment)
        return schedules
    try:
        coordination.call(
            lambda r: r.hset(keys.BEAT_SUCCESS_KEY, mapping=dict.fromkeys(schedules, moment))
        )
    except coordination.CoordinationUnavailable:
        logger.warning("beat success not recorded task=%s", task_name)
    return schedules
