from __future__ import annotations

from django.contrib import admin

from posts.models import (
    Category,
    ListenerRun,
    NotificationDelivery,
    Post,
    PostEvent,
    SitemapDocument,
    Subscription,
    Tag,
)


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    search_fields = ("name", "slug")


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    search_fields = ("name", "slug")


@admin.register(Post)
class PostAdmin(admin.ModelAdmin):
    """Admin edits bypass the services (no domain events); use the API to publish."""

    list_display = ("title", "author", "category", "status", "published_at", "view_count")
    list_filter = ("status", "category")
    search_fields = ("title", "slug")
    raw_id_fields = ("author",)
    readonly_fields = ("view_count", "created_at", "updated_at")
    list_select_related = ("author", "category")
    show_full_result_count = False  # COUNT(*) over a million posts on every page is slow


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ("user", "author", "category", "created_at")
    raw_id_fields = ("user", "author")


@admin.register(PostEvent)
class PostEventAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "post_id", "created_at", "relayed_at", "relay_attempts")
    list_filter = ("kind",)
    show_full_result_count = False


@admin.register(ListenerRun)
class ListenerRunAdmin(admin.ModelAdmin):
    list_display = ("event", "listener", "finished_at")
    list_filter = ("listener",)
    raw_id_fields = ("event",)


@admin.register(NotificationDelivery)
class NotificationDeliveryAdmin(admin.ModelAdmin):
    list_display = ("post_id", "user", "claimed_at", "sent_at")
    raw_id_fields = ("user", "event")


@admin.register(SitemapDocument)
class SitemapDocumentAdmin(admin.ModelAdmin):
    list_display = ("name", "url_count", "is_dirty", "regenerations", "updated_at")
    readonly_fields = ("xml",)
