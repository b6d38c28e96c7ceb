from __future__ import annotations

from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from monitoring import celery_hooks, slow_queries, tracing

        connection_created.connect(slow_queries.install, dispatch_uid="monitoring-slow-query")
        celery_hooks.connect()
        tracing.tracing_setup()
