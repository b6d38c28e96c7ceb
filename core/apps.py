from __future__ import annotations

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        # Registers the deploy-tagged system checks; no network I/O happens here.
        from core import checks  # noqa: F401
