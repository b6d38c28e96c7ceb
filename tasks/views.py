"""HTTP in, HTTP out for /api/v1/tasks. Permissions: members only ever reach their own
tasks (another user's id is a 404 on every method); admins reach all."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from core.cache import query_hash
from core.idempotency import idempotent_create
from core.pagination import PageNumberPagination
from core.params import is_plain_int
from core.renderers import EnvelopeResponse
from core.schema import problems
from core.views import LimitFirstMixin, authenticated_user
from tasks import keys, services
from tasks.selectors import (
    TaskFilters,
    task_get_for_user,
    task_global_statistics,
    task_list_for_user,
)
from tasks.serializers import (
    StatisticsQuery,
    TaskIn,
    TaskListQuery,
    TaskOut,
    TaskStatisticsOut,
)

CACHE_HEADER = "X-Cache"
TAG = ["tasks"]
VISIBILITY_DOC = (
    " Members only reach their own tasks: another user's task id answers 404, the same as an "
    "id that does not exist. Admins reach every task."
)
LIMIT_DOC = " Limited to 60 requests a minute per user (scope `tasks`)."


def _list_query_hash(
    validated: dict[str, Any], *, request: Request, paginator: PageNumberPagination
) -> str:
    """The cache digest of a list query: the validated filters plus the validated page and
    page size (so `page_size=20` and no page_size, or `page=01` and `page=1`, share one entry).
    An invalid page size is a 400 here; an invalid page is hashed raw and the loader's
    pagination answers it with a 400 (never stored)."""
    raw_page = request.query_params.get(paginator.page_query_param, "1")
    parts = dict(validated)
    parts["page"] = int(raw_page) if is_plain_int(raw_page) else raw_page
    parts["page_size"] = paginator.get_page_size(request)
    return query_hash(parts)


class TaskListCreateView(LimitFirstMixin, generics.GenericAPIView[Any]):
    permission_classes = [IsAuthenticated]
    throttle_scope = "tasks"
    serializer_class = TaskOut

    @extend_schema(
        tags=TAG,
        operation_id="tasks_list",
        summary="List tasks",
        description=(
            "The caller's tasks (every user's for admins), newest first unless `ordering` "
            "says otherwise, in pages of `page_size` (default 20). Filter by `status`, a due "
            "date range (`due_after` not later than `due_before`) or `search` words in the "
            "title and description. A page past the last one is a 404." + LIMIT_DOC
        ),
        parameters=[TaskListQuery],
        responses=TaskOut(many=True),
    )
    def get(self, request: Request) -> Response:
        user = authenticated_user(request.user)
        query = TaskListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        paginator = PageNumberPagination()

        def load_page() -> dict[str, Any]:
            # Built on a miss only: a warm page costs no queryset work.
            queryset = task_list_for_user(user=user, filters=TaskFilters(**query.validated_data))
            page = paginator.paginate_queryset(queryset, request, view=self)
            return {
                "results": [dict(row) for row in TaskOut(page, many=True).data],
                "pagination": paginator.pagination_meta(),
            }

        if user.is_admin:
            value, outcome = load_page(), "bypass"  # all users' tasks: no per-user generation
        else:
            digest = _list_query_hash(query.validated_data, request=request, paginator=paginator)
            value, outcome = services.task_cache_fetch(
                user_id=user.pk,
                key_for=lambda generation: keys.list_key(
                    user_id=user.pk, generation=generation, query_hash=digest
                ),
                loader=load_page,
                ttl_seconds=settings.TASKS_LIST_CACHE_SECONDS,
            )
        response = EnvelopeResponse(value["results"], meta={"pagination": value["pagination"]})
        response[CACHE_HEADER] = outcome
        return response

    @extend_schema(
        tags=TAG,
        summary="Create a task",
        description=(
            "Creates a task owned by the caller. `status` defaults to pending; a task created "
            "as completed gets `completed_at` now." + LIMIT_DOC
        ),
        request=TaskIn,
        responses={201: TaskOut},
    )
    @idempotent_create
    def post(self, request: Request) -> Response:
        data = TaskIn(data=request.data)
        data.is_valid(raise_exception=True)
        task = services.task_create(owner=request.user, data=data.validated_data)
        location = reverse("task-detail", kwargs={"pk": task.pk})
        return Response(
            TaskOut(task).data, status=status.HTTP_201_CREATED, headers={"Location": location}
        )


class TaskDetailView(LimitFirstMixin, generics.GenericAPIView[Any]):
    permission_classes = [IsAuthenticated]
    throttle_scope = "tasks"
    serializer_class = TaskOut

    @extend_schema(
        tags=TAG,
        summary="A task",
        description="One task by id." + VISIBILITY_DOC + LIMIT_DOC,
        responses=TaskOut,
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(TaskOut(task_get_for_user(pk=pk, user=request.user)).data)

    @extend_schema(
        tags=TAG,
        summary="Replace a task",
        description=(
            "Sets every editable field (`title` is required; omitted optional fields keep "
            "their value). Moving to completed stamps `completed_at`; moving away clears it."
            + VISIBILITY_DOC
            + LIMIT_DOC
        ),
        request=TaskIn,
        responses=TaskOut,
    )
    def put(self, request: Request, pk: int) -> Response:
        return self._update(request, pk, partial=False)

    @extend_schema(
        tags=TAG,
        summary="Change a task",
        description=(
            "Changes only the fields sent. Moving to completed stamps `completed_at`; moving "
            "away clears it." + VISIBILITY_DOC + LIMIT_DOC
        ),
        request=TaskIn,
        responses=TaskOut,
    )
    def patch(self, request: Request, pk: int) -> Response:
        return self._update(request, pk, partial=True)

    @extend_schema(
        tags=TAG,
        summary="Delete a task",
        description="Deletes the task for good." + VISIBILITY_DOC + LIMIT_DOC,
        responses={204: None},
    )
    def delete(self, request: Request, pk: int) -> Response:
        task = task_get_for_user(pk=pk, user=request.user, using="default")
        services.task_delete(task=task)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _update(self, request: Request, pk: int, *, partial: bool) -> Response:
        task = task_get_for_user(pk=pk, user=request.user, using="default")  # 404 before 400
        data = TaskIn(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        task = services.task_update(task=task, data=data.validated_data)
        return Response(TaskOut(task).data)


class TaskCompleteView(LimitFirstMixin, generics.GenericAPIView[Any]):
    permission_classes = [IsAuthenticated]
    throttle_scope = "tasks"
    serializer_class = TaskOut

    @extend_schema(
        tags=TAG,
        summary="Mark a task completed",
        description=(
            "Sets the status to completed and stamps `completed_at`. Completing a completed "
            "task answers 200 and keeps the first `completed_at`." + VISIBILITY_DOC + LIMIT_DOC
        ),
        request=None,
        responses=TaskOut,
    )
    def post(self, request: Request, pk: int) -> Response:
        task = task_get_for_user(pk=pk, user=request.user, using="default")
        task = services.task_complete(task=task)
        return Response(TaskOut(task).data)


class TaskStatisticsView(LimitFirstMixin, generics.GenericAPIView[Any]):
    """The user's own counts (cached per generation); `?scope=global` (admins) reads the
    6-hourly global entry, computing it once if it was never stored."""

    permission_classes = [IsAuthenticated]
    throttle_scope = "tasks"
    pagination_class = None
    serializer_class = TaskStatisticsOut

    @extend_schema(
        tags=TAG,
        summary="Task statistics",
        description=(
            "Counts of the caller's tasks by status, overdue, and completed today in the "
            "caller's time zone. Admins may ask for `scope=global`: the same counts over every "
            "user, refreshed every 6 hours (`computed_at` tells when)." + LIMIT_DOC
        ),
        parameters=[StatisticsQuery],
        responses={
            200: TaskStatisticsOut,
            **problems(403, descriptions={403: "`scope=global` is for admins only."}),
        },
    )
    def get(self, request: Request) -> Response:
        query = StatisticsQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        if query.validated_data["scope"] == "global":
            if not authenticated_user(request.user).is_admin:
                raise PermissionDenied("Only admins may read global statistics.")
            value = task_global_statistics() or services.task_statistics_store_global()
            response = Response({"scope": "global", **value})
            response[CACHE_HEADER] = "stored"
            return response
        value, outcome = services.task_statistics_cached(user=request.user)
        response = Response({"scope": "own", **value})
        response[CACHE_HEADER] = outcome
        return response
