from __future__ import annotations

from django.apps import AppConfig


class SyncqueueConfig(AppConfig):
    name = "syncqueue"
