from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from monitoring.models import AlertEvent


@admin.register(AlertEvent)
class AlertEventAdmin(admin.ModelAdmin):
    list_display = ("key", "title", "level", "state", "fired_at", "resolved_at", "occurrences")
    list_filter = ("state", "level")
    search_fields = ("key", "title")
    date_hierarchy = "fired_at"
    readonly_fields = [field.name for field in AlertEvent._meta.fields]

    def has_add_permission(
        self, request: HttpRequest
    ) -> bool:  # incidents are made by alert_fire only
        return False
