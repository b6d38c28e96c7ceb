from __future__ import annotations

from django.apps import AppConfig


class SyncqueueConfig(AppConfig):
    name = "syncqueue"

    def ready(self) -> None:
        from accounts.signals import tracked_fields_bulk_changed, tracked_fields_changed
        from monitoring.registry import alert_check_register, gauge_register
        from syncqueue.selectors import sync_overview, sync_overview_empty
        from syncqueue.services import capture, outbox_alerts_check

        # Capture runs inside the sender's transaction (accounts sends inside its atomic()).
        tracked_fields_changed.connect(
            capture.on_tracked_fields_changed, dispatch_uid="syncqueue.capture.one"
        )
        tracked_fields_bulk_changed.connect(
            capture.on_tracked_fields_bulk_changed, dispatch_uid="syncqueue.capture.bulk"
        )
        gauge_register(name="outbox", read=sync_overview, empty=sync_overview_empty())
        alert_check_register(name="sync", run=outbox_alerts_check)
