from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from syncqueue.models import OutboxBatch, OutboxRecord, OutboxStatus, ProviderCall
from syncqueue.services import outbox_requeue


@admin.register(OutboxRecord)
class OutboxRecordAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "user_id",
        "version",
        "status",
        "retry_count",
        "next_attempt_at",
        "batch_id",
        "updated_at",
        "sent_at",
    )
    list_filter = ("status",)
    search_fields = ("=user__id", "user__email")
    raw_id_fields = ("user", "batch")
    readonly_fields = (
        "unsent_user_id",
        "payload",
        "version",
        "created_at",
        "updated_at",
        "sent_at",
        "lease_expires_at",
    )
    list_select_related = False
    show_full_result_count = False
    actions = ("requeue",)

    @admin.action(description="Requeue selected parked/failed rows (send again)")
    def requeue(self, request: HttpRequest, queryset: QuerySet[OutboxRecord]) -> None:
        ids = list(
            queryset.filter(status__in=(OutboxStatus.PARKED, OutboxStatus.FAILED)).values_list(
                "id", flat=True
            )
        )
        count = outbox_requeue(record_ids=ids)
        self.message_user(request, f"{count} rows requeued.", messages.SUCCESS)


@admin.register(OutboxBatch)
class OutboxBatchAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "state", "size", "created_at", "finished_at", "lease_expires_at")
    list_filter = ("kind", "state")
    show_full_result_count = False


@admin.register(ProviderCall)
class ProviderCallAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "created_at",
        "endpoint",
        "records",
        "status_code",
        "duration_ms",
        "error",
    )
    list_filter = ("endpoint", "status_code")
    raw_id_fields = ("batch",)
    show_full_result_count = False
