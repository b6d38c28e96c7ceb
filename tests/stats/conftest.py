"""Stats test helpers: entry seeding at a chosen time, a dead database, publish counting."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from celery.signals import before_task_publish
from django.conf import settings
from django.db import connections
from django.test import Client

from config.celery import app as celery_app
from core import redis as coordination
from stats import keys, services
from stats.models import Order
from tests.conftest import StatementCounter

AGGREGATE_FRAGMENT = "COUNT(*)"


@pytest.fixture(autouse=True)
def _fresh_process_copy() -> Iterator[None]:
    services.process_copy.clear()
    yield
    services.process_copy.clear()


@pytest.fixture
def orders(db) -> list[Order]:
    """Three users and four orders (sum 61.50), committed or not depending on the test."""
    from tests.factories import UserFactory

    users = UserFactory.create_batch(3)
    amounts = ("10.00", "20.25", "30.25", "1.00")
    return [
        Order.objects.create(user=users[i % 3], amount=Decimal(amount))
        for i, amount in enumerate(amounts)
    ]


def store_entry(*, age_seconds: float) -> services.Snapshot:
    """Compute now, but stamp the entry as computed `age_seconds` ago, and store it."""
    at_ms = services.now_ms() - int(age_seconds * 1000)
    snapshot = services.stats_compute(at_ms=at_ms)
    services.stats_entry_store(snapshot=snapshot)
    return snapshot


@contextmanager
def database_down(alias: str = "default") -> Iterator[None]:
    """Point the alias at a port nothing listens on (test-local), then restore it."""
    connection = connections[alias]
    saved = {name: connection.settings_dict.get(name) for name in ("HOST", "PORT")}
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=1)
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.update(saved)


def run_concurrently(
    *, requests: int, threads: int, request: Callable[[int, Client], Any]
) -> tuple[list[Any], StatementCounter]:
    """`requests` calls of `request(index, client)` over `threads` threads, each thread's
    connection counted by one shared StatementCounter; connections closed in `finally`."""
    counter = StatementCounter()
    results: list[Any] = [None] * requests
    next_index = iter(range(requests))
    index_lock = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        client = Client()
        try:
            with connections["default"].execute_wrapper(counter):
                while True:
                    with index_lock:
                        index = next(next_index, None)
                    if index is None:
                        return
                    results[index] = request(index, client)
        except BaseException as exc:  # surfaced in the test thread below
            errors.append(exc)
        finally:
            for alias in connections:
                connections[alias].close()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=60)
    if errors:
        raise errors[0]
    return results, counter


@pytest.fixture
def published() -> Iterator[list[str]]:
    """Publish to the real broker (no worker) and record task names; purge 'urgent' after."""
    names: list[str] = []

    def record(sender: str | None = None, **_: Any) -> None:
        names.append(str(sender))

    before_task_publish.connect(record, weak=False)
    celery_app.conf.task_always_eager = False
    try:
        yield names
    finally:
        celery_app.conf.task_always_eager = True
        before_task_publish.disconnect(record)
        with celery_app.connection_for_write() as conn:
            conn.default_channel.queue_purge("urgent")


def redis_raw() -> Any:
    return coordination.redis_client_for(settings.REDIS_URL)


def entry_computed_at() -> int | None:
    value = redis_raw().hget(keys.ENTRY_KEY, "computed_at")
    return int(value) if value is not None else None
