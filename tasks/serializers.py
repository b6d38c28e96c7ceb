"""Input and output shapes of the tasks API (no writes here)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from core.serializers import StrictInputSerializer
from tasks.models import Task
from tasks.selectors import DEFAULT_ORDERING, ORDERING_ALLOWED, SEARCH_MAX_LENGTH


class TaskIn(StrictInputSerializer):
    title = serializers.CharField(max_length=200, trim_whitespace=True)
    description = serializers.CharField(max_length=10_000, allow_blank=True, required=False)
    status = serializers.ChoiceField(choices=Task.Status.choices, required=False)
    due_date = serializers.DateTimeField(allow_null=True, required=False)


class TaskOut(serializers.ModelSerializer[Task]):
    owner_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Task
        fields = (
            "id",
            "owner_id",
            "title",
            "description",
            "status",
            "due_date",
            "completed_at",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class TaskListQuery(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=Task.Status.choices, required=False)
    due_before = serializers.DateTimeField(required=False)
    due_after = serializers.DateTimeField(required=False)
    ordering = serializers.ChoiceField(
        choices=ORDERING_ALLOWED, required=False, default=DEFAULT_ORDERING
    )
    search = serializers.CharField(
        max_length=SEARCH_MAX_LENGTH, required=False, allow_blank=True, trim_whitespace=True
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        before, after = attrs.get("due_before"), attrs.get("due_after")
        if before is not None and after is not None and after > before:
            raise serializers.ValidationError({"due_after": ["Must not be after due_before."]})
        return attrs


class StatisticsQuery(serializers.Serializer[Any]):
    scope = serializers.ChoiceField(choices=("own", "global"), required=False, default="own")


class TaskStatusCountsOut(serializers.Serializer[Any]):
    pending = serializers.IntegerField()
    in_progress = serializers.IntegerField()
    completed = serializers.IntegerField()


class TaskStatisticsOut(serializers.Serializer[Any]):
    scope = serializers.ChoiceField(choices=("own", "global"))
    total = serializers.IntegerField()
    by_status = TaskStatusCountsOut()
    overdue = serializers.IntegerField()
    completed_today = serializers.IntegerField()
    local_date = serializers.DateField()
    time_zone = serializers.CharField()
    computed_at = serializers.DateTimeField()
