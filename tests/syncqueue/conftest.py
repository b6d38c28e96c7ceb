"""syncqueue fixtures: an injectable clock and the provider stub as a real HTTP server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from syncqueue import client
from syncqueue.stub import ProviderStub


class FakeClock:
    """One injected clock for the relay (`now=`), the stub (`clock=`) and `timezone.now()`
    (time-machine, not ticking), so row timestamps and windows agree."""

    def __init__(self, start: datetime, traveller) -> None:
        self._current = start
        self._traveller = traveller

    @property
    def current(self) -> datetime:
        return self._current

    @current.setter
    def current(self, value: datetime) -> None:
        self._traveller.move_to(value)
        self._current = value

    def now(self) -> datetime:
        return self._current

    def time(self) -> float:
        return self._current.timestamp()

    def advance(self, seconds: float) -> datetime:
        self.current = self._current + timedelta(seconds=seconds)
        return self._current


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    # Ten seconds into a window of any size that divides an hour.
    start = datetime(2030, 1, 1, 12, 0, 10, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as traveller:
        yield FakeClock(start, traveller)


@pytest.fixture
def sync_settings(settings):
    """Small, fast limits: batches of 10, 3 batch calls and 20 single calls per 60 s window."""
    settings.SYNC_BATCH_SIZE = 10
    settings.SYNC_WINDOW_SECONDS = 60
    settings.SYNC_BATCH_CALLS_PER_WINDOW = 3
    settings.SYNC_SINGLE_CALLS_PER_WINDOW = 20
    settings.SYNC_MAX_DELAY_SECONDS = 30
    settings.SYNC_MAX_RETRIES = 3
    settings.SYNC_LEASE_SECONDS = 60
    settings.SYNC_COALESCE = True
    settings.SYNC_PROVIDER_TIMEOUT_SECONDS = 2.0
    return settings


def _start_stub(settings, **kwargs) -> ProviderStub:
    stub = ProviderStub(
        window_seconds=settings.SYNC_WINDOW_SECONDS,
        batch_limit=settings.SYNC_BATCH_CALLS_PER_WINDOW,
        single_limit=settings.SYNC_SINGLE_CALLS_PER_WINDOW,
        **kwargs,
    )
    settings.SYNC_PROVIDER_URL = stub.start(port=0)
    client.reset_clients()
    return stub


@pytest.fixture
def stub(sync_settings, clock) -> Iterator[ProviderStub]:
    """The stub on port 0, on the injected clock."""
    provider = _start_stub(sync_settings, clock=clock.time)
    yield provider
    provider.stop()
    client.reset_clients()


@pytest.fixture
def wall_stub(sync_settings) -> Iterator[ProviderStub]:
    """The stub on port 0, on wall time (tests with a real worker)."""
    provider = _start_stub(sync_settings)
    yield provider
    provider.stop()
    client.reset_clients()
