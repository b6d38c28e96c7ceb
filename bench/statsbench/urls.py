"""Bench-only URLs: the production URLconf plus the comparison views of bench/stats_bench.py.

Also counts every aggregate statement that reaches MariaDB into the bench's own Redis
(`bench:aggregates`), so the bench reports them per run without asking the shared server.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db.backends.signals import connection_created
from django.urls import include, path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import redis as coordination
from stats.services import stats_compute
from stats.views import StatsView
from statsbench.views import constant_view, conventional_view

AGGREGATES_KEY = "bench:aggregates"


def _count_aggregates(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    if "COUNT(*)" in sql.upper():
        coordination.redis_client_for(settings.REDIS_URL).incr(AGGREGATES_KEY)
    return execute(sql, params, many, context)


def _install_counter(sender: Any, connection: Any, **kwargs: Any) -> None:
    if _count_aggregates not in connection.execute_wrappers:
        connection.execute_wrappers.append(_count_aggregates)


connection_created.connect(_install_counter, weak=False)


class StatsViaDrfView(StatsView):
    """(b2) the production stats view, but through DRF's full dispatch (request wrapping,
    negotiation, auth/permission/throttle hooks): measures what bypassing it saves."""

    dispatch = APIView.dispatch


class NaiveStatsView(APIView):
    """(e) the naive version: both aggregates per request, rendered by DRF."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes: list[Any] = []
    envelope = False

    def get(self, request: Request) -> Response:
        snapshot = stats_compute()
        return Response(json.loads(snapshot.body))


urlpatterns = [
    path("bench/constant", constant_view),
    # Under /api/: the project's API pipeline, as /api/stats gets it.
    path("api/bench/constant", constant_view),
    path("api/bench/conv", conventional_view),
    path("bench/stats-drf", StatsViaDrfView.as_view()),
    path("bench/naive", NaiveStatsView.as_view()),
    path("", include("config.urls")),
]
