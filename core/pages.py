"""Plain pages outside the API: the front door (`/`) and the problem-type catalog (`/problems`).

Each answers HTML to a browser and JSON to a program (`Accept: application/json`), from the
same data, and is public and cacheable: neither depends on who asks.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.views.decorators.http import require_safe

from core.errors import COMPACT_JSON
from core.problems import PROBLEM_TYPES, ProblemType

# The pages change only with a deploy; an hour keeps browsers and proxies from asking often.
PAGE_MAX_AGE_SECONDS = 3600
_JSON_TYPES = ("application/json", "application/problem+json")


def _wants_json(request: HttpRequest) -> bool:
    # No Accept header or */* (a bare curl) gets HTML, listed first; a program asks for JSON.
    preferred = request.get_preferred_type(["text/html", *_JSON_TYPES])
    return preferred in _JSON_TYPES


def _negotiated(
    request: HttpRequest, *, template: str, context: dict[str, Any], data: Any
) -> HttpResponse:
    if _wants_json(request):
        response: HttpResponse = JsonResponse(data, json_dumps_params=COMPACT_JSON)
    else:
        response = render(request, template, context)
    patch_vary_headers(response, ["Accept"])
    patch_cache_control(response, public=True, max_age=PAGE_MAX_AGE_SECONDS)
    return response


def _links() -> list[tuple[str, str, str]]:
    """(name, path, what it is) of everything a newcomer or an operator looks for first."""
    return [
        ("docs", reverse("docs"), "API documentation (Swagger UI)"),
        ("schema", reverse("schema"), "OpenAPI 3 schema"),
        ("health", reverse("health"), "Health of the database, Redis and the broker"),
        ("stats", reverse("stats"), "Public statistics"),
        ("problems", reverse("problem-list"), "Every error type the API returns"),
        ("sitemap", reverse("sitemap-index"), "Sitemap of the published posts"),
        ("admin", reverse("admin:index"), "Django admin (staff)"),
        ("ops", reverse("ops-dashboard"), "Operations dashboard (staff)"),
    ]


@require_safe
def front_door(request: HttpRequest) -> HttpResponse:
    links = _links()
    return _negotiated(
        request,
        template="core/front_door.html",
        context={"links": links},
        data={"name": "Platform API", "links": {name: path for name, path, _ in links}},
    )


def _problem_data(problem: ProblemType) -> dict[str, Any]:
    return {
        "type": problem.uri,
        "code": problem.code,
        "status": problem.status,
        "title": problem.title,
        "description": problem.description,
    }


@require_safe
def problem_list(request: HttpRequest) -> HttpResponse:
    problems = sorted(PROBLEM_TYPES.values(), key=lambda p: (p.status, p.code))
    return _negotiated(
        request,
        template="core/problem_list.html",
        context={"problems": problems},
        data={"problems": [_problem_data(problem) for problem in problems]},
    )


@require_safe
def problem_detail(request: HttpRequest, code: str) -> HttpResponse:
    problem = PROBLEM_TYPES.get(code)
    if problem is None:
        raise Http404("No such problem type.")
    return _negotiated(
        request,
        template="core/problem_detail.html",
        context={"problem": problem},
        data=_problem_data(problem),
    )
