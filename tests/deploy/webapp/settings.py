"""Test-only settings for a real `deploy/web`: the production settings with two test views
(tests/deploy/test_web_server.py). Loaded with runpy, as bench/statsbench does: importing the
`config` package starts the Celery app, which reads these very settings while they load."""

from __future__ import annotations

import runpy
from pathlib import Path

_PRODUCTION = runpy.run_path(str(Path(__file__).resolve().parents[3] / "config" / "settings.py"))
globals().update({name: value for name, value in _PRODUCTION.items() if name.isupper()})

ROOT_URLCONF = "tests.deploy.webapp.urls"
