from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from celery import signals
from django.core import mail


def local(day: date, at: time, zone: str) -> datetime:
    return datetime.combine(day, at, tzinfo=ZoneInfo(zone))


@contextmanager
def published_jobs() -> Iterator[list[tuple[str, tuple]]]:
    """Record every job that runs (name, args) while inside: eager runs fire task_prerun."""
    seen: list[tuple[str, tuple]] = []

    def record(sender=None, args=None, **_):
        seen.append((sender.name, tuple(args or ())))

    signals.task_prerun.connect(record, weak=False)
    try:
        yield seen
    finally:
        signals.task_prerun.disconnect(record)


def mails_to(address: str) -> list:
    return [message for message in mail.outbox if address in message.to]
