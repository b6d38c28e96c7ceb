from __future__ import annotations

from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from monitoring import celery_hooks, slow_queries, thresholds, tracing
        from monitoring.registry import alert_check_register

        connection_created.connect(slow_queries.install, dispatch_uid="monitoring-slow-query")
        celery_hooks.connect()
        tracing.tracing_setup()
        alert_check_register(name="requests", run=thresholds.requests_check)
        alert_check_register(name="queues", run=thresholds.queues_check)
        alert_check_register(name="databases", run=thresholds.databases_check)
