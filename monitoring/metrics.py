"""Metric objects and recording helpers (filled in by the monitoring app)."""

from __future__ import annotations


def limiter_fail_open(*, scope: str) -> None:
    """Count a limiter decision made in process because Redis was unreachable."""


def rate_limited(*, scope: str) -> None:
    """Count a request refused by the limiter."""
