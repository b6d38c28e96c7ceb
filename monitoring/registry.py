"""How apps plug into monitoring: gauges for the snapshot and alert checks for the evaluator.

Each app registers from its `AppConfig.ready()`, so monitoring imports no feature app and a
renamed function fails at start-up instead of silently switching a gauge or an alert off:

    gauge_register(name="outbox", read=sync_overview, empty=sync_overview_empty())
    alert_check_register(name="sync", run=outbox_alert_checks)

A gauge's `read()` returns the JSON-able section `monitoring.gauges.gauges_refresh` stores
under `name` in the snapshot; `empty` is that section before the first refresh (the label
sets /api/metrics shows at 0). An alert check's `run(now)` returns AlertChecks; the one
evaluator (`monitoring.alerting.alert_checks_evaluate`) fires the firing ones and resolves the rest.
A check or gauge whose input is unavailable raises; the evaluator and the refresh log it and
skip that one (neither fired nor resolved).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class AlertCheck:
    """One alert's state now. `key` follows `<area>.<condition>[:<subject>]`."""

    key: str
    title: str
    level: str  # "critical" | "warning"
    is_firing: bool
    message: str


@dataclass(frozen=True)
class Gauge:
    name: str
    read: Callable[[], dict[str, Any]]
    empty: dict[str, Any] = field(default_factory=dict)


AlertCheckRun = Callable[[datetime], list[AlertCheck]]

_gauges: dict[str, Gauge] = {}
_alert_checks: dict[str, AlertCheckRun] = {}


def gauge_register(
    *, name: str, read: Callable[[], dict[str, Any]], empty: dict[str, Any] | None = None
) -> None:
    """Add (or replace: ready() may run again) the snapshot section `name`."""
    _gauges[name] = Gauge(name=name, read=read, empty=empty or {})


def alert_check_register(*, name: str, run: AlertCheckRun) -> None:
    """Add (or replace) the alert check `name`; the evaluator calls `run(now)` every minute."""
    _alert_checks[name] = run


def gauges_registered() -> dict[str, Gauge]:
    return dict(_gauges)


def alert_checks_registered() -> dict[str, AlertCheckRun]:
    return dict(_alert_checks)
