"""User-local day math in Python (zoneinfo), turned into UTC ranges for the database.

MariaDB here has no time-zone tables (CONVERT_TZ returns NULL), so no `__date` or `Trunc*`
with a time zone: a local day is [local midnight, next local midnight) converted to UTC,
which is 23 or 25 hours long on DST change days.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings

logger = logging.getLogger(__name__)


@lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def zone_for(name: str | None) -> ZoneInfo:
    """The user's zone; settings.TIME_ZONE when unset or unknown (logged)."""
    if name:
        try:
            return _zone(name)
        except (ZoneInfoNotFoundError, ValueError):
            logger.warning("unknown user time zone, using TIME_ZONE zone=%r", name)
    return _zone(settings.TIME_ZONE)


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """`day` at wall-clock `at` in `zone`, as UTC. A wall time skipped by a DST gap maps
    to the instant after the gap (fold=0 semantics of zoneinfo)."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def local_day_range(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the local calendar day `day` in `zone`."""
    return (
        local_instant(day, time(0), zone),
        local_instant(day + timedelta(days=1), time(0), zone),
    )


def local_date(instant: datetime, zone: ZoneInfo) -> date:
    return instant.astimezone(zone).date()


def week_start(day: date) -> date:
    """Monday of the ISO week containing `day`."""
    return day - timedelta(days=day.weekday())
