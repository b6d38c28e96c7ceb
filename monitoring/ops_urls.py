from __future__ import annotations

from django.urls import path

from monitoring import ops_views

urlpatterns = [
    path("ops/", ops_views.ops_dashboard, name="ops-dashboard"),
    path("ops/data.json", ops_views.ops_data, name="ops-data"),
]
