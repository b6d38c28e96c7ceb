from __future__ import annotations

from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "tasks"

    def ready(self) -> None:
        from monitoring.registry import gauge_register
        from tasks.selectors import task_global_statistics

        # None (never computed, or Redis down) is an empty section.
        gauge_register(name="tasks", read=lambda: task_global_statistics() or {})
