from __future__ import annotations

from django.contrib import admin

from stats.models import Order


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "amount", "created_at")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    date_hierarchy = "created_at"
    search_fields = ("user__email",)
    # Millions of rows: an exact COUNT(*) per changelist page is the slow part.
    show_full_result_count = False
