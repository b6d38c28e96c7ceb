"""Bench-only settings: the production settings with the bench URLconf on top (never deployed).

Loaded with runpy rather than `from config.settings import *`: importing the `config` package
starts the Celery app, which reads these very settings while they are still loading.
"""

from __future__ import annotations

import os
import runpy
from pathlib import Path

# BENCH_CODE_ROOT: another checkout's settings (the bench's "before" rows run an older tree).
_ROOT = Path(os.environ.get("BENCH_CODE_ROOT") or Path(__file__).resolve().parents[2])
_PRODUCTION = runpy.run_path(str(_ROOT / "config" / "settings.py"))
globals().update({name: value for name, value in _PRODUCTION.items() if name.isupper()})

ROOT_URLCONF = "statsbench.urls"
