"""GCRA arithmetic (core.limiter) against a reference model, as properties (Hypothesis).

The reference is the textbook GCRA in exact rational arithmetic. The in-process limiter must
decide every request as the reference does; the Redis script must decide exactly as the
in-process limiter (same double arithmetic, TAT stored at full precision).
"""

from __future__ import annotations

import uuid
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.limiter import LocalLimiter, Policy, rate_limit_check

PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def reference_decisions(*, limit: int, period_ms: int, times_ms: list[int]) -> list[bool]:
    """Textbook GCRA, exact: admit at `now` iff max(TAT, now) + T - period <= now."""
    interval = Fraction(period_ms, limit)
    tat: Fraction | None = None
    decisions = []
    for now in times_ms:
        current = max(tat if tat is not None else Fraction(now), Fraction(now))
        is_allowed = current + interval - period_ms <= now
        if is_allowed:
            tat = current + interval
        decisions.append(is_allowed)
    return decisions


def _times(draw_gaps: list[int], *, start: int = 1_700_000_000_000) -> list[int]:
    times, now = [], start
    for gap in draw_gaps:
        now += gap
        times.append(now)
    return times


@st.composite
def exact_policies(draw) -> tuple[int, int]:
    """Policies whose emission interval is a whole number of ms (doubles are then exact)."""
    limit = draw(st.integers(min_value=1, max_value=120))
    interval_ms = draw(st.integers(min_value=1, max_value=5_000))
    return limit, limit * interval_ms


@PROPERTY_SETTINGS
@given(
    policy=exact_policies(),
    gaps=st.lists(st.integers(min_value=0, max_value=3_000), min_size=1, max_size=200),
)
def test_local_limiter_decides_as_the_reference(policy, gaps):
    limit, period_ms = policy
    times = _times(gaps)
    limiter = LocalLimiter()
    as_policy = Policy(scope="p", limit=limit, period_seconds=period_ms / 1000)  # type: ignore[arg-type]
    decided = [bool(limiter.decide("k", as_policy, now_ms=now)[0]) for now in times]
    assert decided == reference_decisions(limit=limit, period_ms=period_ms, times_ms=times)


@PROPERTY_SETTINGS
@given(
    limit=st.integers(min_value=1, max_value=120),
    gaps=st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=200),
)
def test_a_burst_admits_exactly_the_limit_then_one_per_interval(limit, gaps):
    # Whatever the arrival pattern, admitted requests never exceed limit + elapsed / T.
    period_ms = 60_000
    times = _times(gaps)
    decided = reference_decisions(limit=limit, period_ms=period_ms, times_ms=times)
    limiter = LocalLimiter()
    policy = Policy(scope="p", limit=limit, period_seconds=60)
    local = [bool(limiter.decide("k", policy, now_ms=now)[0]) for now in times]
    elapsed = times[-1] - times[0]
    assert sum(local) <= limit + elapsed * limit // period_ms + 1
    if sum(gaps[1:]) == 0:  # all at once: exactly the burst
        assert sum(decided) == min(limit, len(times))


@st.composite
def hour_policies_and_gaps(draw) -> tuple[int, int, list[int]]:
    """Policies of hours and arrival gaps that hit the boundaries: zero (bursts) and the
    interval rounded down or up (a request landing within a ms of when it becomes allowed)."""
    limit = draw(st.integers(min_value=1, max_value=100))
    hours = draw(st.integers(min_value=1, max_value=24))
    interval = Fraction(hours * 3_600_000, limit)
    near = [0, int(interval), int(interval) + 1]
    gap = st.one_of(st.sampled_from(near), st.integers(min_value=0, max_value=2 * int(interval)))
    return limit, hours, draw(st.lists(gap, min_size=1, max_size=80))


@pytest.mark.django_db
@PROPERTY_SETTINGS
@given(case=hour_policies_and_gaps())
def test_redis_script_decides_exactly_as_the_local_limiter(case, django_settings):
    # Periods of hours: each key's real PX (>= one interval, 36 s) outlives the example, so
    # only the synthetic clock (now_ms) moves the bucket.
    limit, hours, gaps = case
    scope = "property"
    django_settings.RATE_LIMITS = {**django_settings.RATE_LIMITS, scope: f"{limit}/{hours}h"}
    policy = Policy(scope=scope, limit=limit, period_seconds=hours * 3600)
    subject = uuid.uuid4().hex
    local = LocalLimiter()
    for now in _times(gaps):
        remote = rate_limit_check(scope=scope, subject=subject, now_ms=now)
        expected = local.decide("k", policy, now_ms=now)
        assert not remote.is_fallback
        assert (remote.is_allowed, remote.remaining) == (bool(expected[0]), max(0, expected[1]))


@pytest.fixture
def django_settings(settings):
    return settings
