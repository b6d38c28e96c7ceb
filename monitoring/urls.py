from __future__ import annotations

from django.urls import path

from monitoring import views

urlpatterns = [
    path("metrics", views.metrics_view, name="metrics"),
    path("health", views.health_view, name="health"),
    path("health/live", views.live_view, name="health-live"),
]
