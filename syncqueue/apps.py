from __future__ import annotations

from django.apps import AppConfig


class SyncqueueConfig(AppConfig):
    name = "syncqueue"

    def ready(self) -> None:
        from accounts.signals import tracked_fields_bulk_changed, tracked_fields_changed
        from syncqueue.services import capture

        # Capture runs inside the sender's transaction (accounts sends inside its atomic()).
        tracked_fields_changed.connect(
            capture.on_tracked_fields_changed, dispatch_uid="syncqueue.capture.one"
        )
        tracked_fields_bulk_changed.connect(
            capture.on_tracked_fields_bulk_changed, dispatch_uid="syncqueue.capture.bulk"
        )
