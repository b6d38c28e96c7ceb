from __future__ import annotations

import factory
from django.utils import timezone

from tasks.models import Task
from tests.factories import UserFactory


class TaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Task

    owner = factory.SubFactory(UserFactory)
    title = factory.Sequence(lambda n: f"Task number {n}")
    description = ""
    status = Task.Status.PENDING
    due_date = None
    created_at = factory.LazyFunction(timezone.now)
