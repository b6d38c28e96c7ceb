from __future__ import annotations

from django.urls import path

from tasks import views

urlpatterns = [
    path("v1/tasks", views.TaskListCreateView.as_view(), name="task-list"),
    path("v1/tasks/statistics", views.TaskStatisticsView.as_view(), name="task-statistics"),
    path("v1/tasks/<int:pk>", views.TaskDetailView.as_view(), name="task-detail"),
    path("v1/tasks/<int:pk>/complete", views.TaskCompleteView.as_view(), name="task-complete"),
]
