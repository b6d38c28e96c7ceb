"""(a0) yardstick URLconf: one plain view, nothing else."""

from __future__ import annotations

from django.urls import path

from statsbench.views import constant_view

urlpatterns = [path("bench/bare", constant_view)]
