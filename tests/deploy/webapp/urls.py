"""The production URLconf plus /test/pid (which worker answered) and /test/sleep (a request
that takes as long as it is told)."""

from __future__ import annotations

import os
import time

from django.http import HttpRequest, HttpResponse
from django.urls import path

from config.urls import urlpatterns as production_urlpatterns


def pid_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(str(os.getpid()), content_type="text/plain")


def sleep_view(request: HttpRequest) -> HttpResponse:
    time.sleep(float(request.GET.get("seconds", "1")))
    return HttpResponse("slept", content_type="text/plain")


urlpatterns = [
    path("test/pid", pid_view),
    path("test/sleep", sleep_view),
    *production_urlpatterns,
]
