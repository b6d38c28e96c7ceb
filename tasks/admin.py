from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from tasks.models import Task, TaskDigestLedger, TaskReminderLedger
from tasks.services import task_cache_bump


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ("id", "title", "owner", "status", "due_date", "completed_at", "created_at")
    list_filter = ("status",)
    search_fields = ("title",)
    raw_id_fields = ("owner",)
    readonly_fields = ("completed_at", "created_at", "updated_at")
    date_hierarchy = "created_at"
    list_select_related = ("owner",)
    show_full_result_count = False  # COUNT(*) over a million rows on every page is slow

    def save_model(self, request: HttpRequest, obj: Task, form: Any, change: bool) -> None:
        if obj.status == Task.Status.COMPLETED:
            obj.completed_at = obj.completed_at or timezone.now()
        else:
            obj.completed_at = None
        super().save_model(request, obj, form, change)
        transaction.on_commit(lambda: task_cache_bump(user_id=obj.owner_id))

    def delete_model(self, request: HttpRequest, obj: Task) -> None:
        owner_id = obj.owner_id
        super().delete_model(request, obj)
        transaction.on_commit(lambda: task_cache_bump(user_id=owner_id))


@admin.register(TaskReminderLedger)
class TaskReminderLedgerAdmin(admin.ModelAdmin):
    list_display = ("id", "task_id", "kind", "local_date", "sent_at")
    list_filter = ("kind",)
    raw_id_fields = ("task",)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(TaskDigestLedger)
class TaskDigestLedgerAdmin(admin.ModelAdmin):
    list_display = ("id", "user_id", "iso_year", "iso_week", "sent_at")
    raw_id_fields = ("user",)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
