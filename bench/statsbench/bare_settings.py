"""(a0) yardstick: the production settings with no middleware at all and a one-view URLconf."""

from __future__ import annotations

from statsbench.settings import *  # noqa: F403

MIDDLEWARE: list[str] = []
ROOT_URLCONF = "statsbench.bare_urls"
