"""RFC 9457 problem details for every error the API returns.

`type` is `/problems/<code>` for every problem (core/problems.py is the catalog, served at
`/problems` for people and programs); `errors` maps dotted field paths to message lists (`non_field_errors` for object level).
One handler serves DRF; `handler400/403/404/500` and the CSRF view serve the rest of `/api/`.
"""

from __future__ import annotations

import logging
import sys
from http import HTTPStatus
from typing import Any, TypeVar

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults as django_defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.settings import api_settings

from core.problems import PROBLEM_TYPES, problem_type_uri

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
# Rendered exactly like DRF's JSONRenderer (COMPACT_JSON, UNICODE_JSON), so a problem reads the
# same whichever layer answered it.
COMPACT_JSON = {"separators": (",", ":"), "ensure_ascii": False}

_R = TypeVar("_R", bound=HttpResponse)


class DomainError(Exception):
    """A business-rule failure with its own problem type (`/problems/<code>`)."""

    status_code = 400
    code = "invalid"
    title = "Invalid request"

    def __init__(
        self,
        detail: str = "",
        *,
        code: str | None = None,
        status: int | None = None,
        errors: dict[str, list[str]] | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail or self.title
        self.code = code or self.code
        self.status_code = status or self.status_code
        self.errors = errors or {}
        self.title = title or self.title
        self.headers = headers or {}


class Conflict(DomainError):
    status_code = 409
    code = "conflict"
    title = "Conflict"


class ServiceUnavailable(DomainError):
    status_code = 503
    code = "service_unavailable"
    title = "Service unavailable"

    def __init__(self, detail: str = "", *, retry_after_seconds: int = 1, **kwargs: Any) -> None:
        headers = {"Retry-After": str(retry_after_seconds)}
        super().__init__(detail, headers=headers, **kwargs)


# A database fault clients should retry (503), not a bug (500). MariaDB/MySQL error numbers:
# client side 2002/2003 can't connect, 2005 unknown host, 2006 gone away, 2013/2055 lost
# connection (read timeout included), 2026 TLS; server side 1040 too many connections,
# 1053 shutting down, 1158-1161 network read/write errors, 1205 lock wait timeout, 1213 deadlock,
# 1290/1836 read-only (a primary being switched), 1317 query interrupted, 1927 connection killed,
# 1969 max_statement_time exceeded (MySQL: 3024).
_TRANSIENT_DATABASE_ERRORS = frozenset(
    {2002, 2003, 2005, 2006, 2013, 2026, 2055, 1040, 1053, 1158, 1159, 1160, 1161, 1205, 1213}
    | {1290, 1836, 1317, 1927, 1969, 3024}
)
# How long a client should wait before retrying when the database is unreachable or stalled.
DATABASE_RETRY_AFTER_SECONDS = 5


def is_database_unavailable(exc: BaseException | None) -> bool:
    """True for a database that is unreachable, stalled, overloaded or switching roles;
    False for errors a retry cannot fix (bad SQL, integrity, data)."""
    if isinstance(exc, InterfaceError):
        return True  # the connection is closed or broken under us
    if not isinstance(exc, OperationalError):
        return False
    code = exc.args[0] if exc.args else None
    if isinstance(code, int):
        return code in _TRANSIENT_DATABASE_ERRORS
    # SQLite (embedded mode): "database is locked" is the one transient error it raises.
    return "locked" in str(exc)


class DatabaseUnavailable(ServiceUnavailable):
    code = "database_unavailable"
    title = "Database unavailable"


def database_unavailable_problem() -> DatabaseUnavailable:
    return DatabaseUnavailable(
        "The database is unavailable right now; retry shortly.",
        retry_after_seconds=DATABASE_RETRY_AFTER_SECONDS,
    )


def _catalog_title(code: str) -> str | None:
    problem = PROBLEM_TYPES.get(code)
    return problem.title if problem else None


def problem_body(
    *,
    status: int,
    code: str,
    detail: str,
    title: str | None = None,
    errors: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    return {
        "type": problem_type_uri(code),
        "title": title or _catalog_title(code) or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        "errors": errors or {},
    }


def _finish(response: _R, status: int, headers: dict[str, str] | None) -> _R:
    for name, value in (headers or {}).items():
        response[name] = value
    if status in (429, 503):
        response["Cache-Control"] = "no-store"
        response.setdefault("Retry-After", "1")
    return response


def problem_response(
    *,
    status: int,
    code: str,
    detail: str,
    title: str | None = None,
    errors: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
) -> JsonResponse:
    """A problem+json response for plain Django code paths (middleware, handlers, plain views)."""
    body = problem_body(status=status, code=code, detail=detail, title=title, errors=errors)
    response = JsonResponse(
        body, status=status, content_type=PROBLEM_CONTENT_TYPE, json_dumps_params=COMPACT_JSON
    )
    return _finish(response, status, headers)


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail → {"dotted.path": ["message", ...]}."""
    flat: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = (
                api_settings.NON_FIELD_ERRORS_KEY
                if key in ("non_field_errors", "__all__")
                else str(key)
            )
            path = f"{prefix}.{name}" if prefix else name
            flat.update(flatten_errors(value, path))
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            flat.setdefault(prefix or api_settings.NON_FIELD_ERRORS_KEY, []).extend(
                str(item) for item in detail
            )
        else:
            for index, item in enumerate(detail):
                flat.update(flatten_errors(item, f"{prefix}.{index}" if prefix else str(index)))
    else:
        flat.setdefault(prefix or api_settings.NON_FIELD_ERRORS_KEY, []).append(str(detail))
    return flat


def _first_code(detail: Any) -> str | None:
    if isinstance(detail, dict):
        for value in detail.values():
            code = _first_code(value)
            if code:
                return code
    elif isinstance(detail, list):
        for value in detail:
            code = _first_code(value)
            if code:
                return code
    else:
        return getattr(detail, "code", None)
    return None


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler: every error becomes problem+json; unknown ones stay 500s."""
    headers: dict[str, str] = {}
    if isinstance(exc, DatabaseError) and is_database_unavailable(exc):
        logger.warning("database unavailable path=%s error=%s", _path(context), exc)
        exc = database_unavailable_problem()
    if isinstance(exc, DomainError):
        return _drf_problem(
            status=exc.status_code,
            code=exc.code,
            title=exc.title,
            detail=exc.detail,
            errors=exc.errors,
            headers=exc.headers,
        )
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        return _drf_problem(
            status=413, code="payload_too_large", detail="Request body is too large."
        )
    elif isinstance(exc, DjangoValidationError):
        messages = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        exc = drf.ValidationError(messages)

    if not isinstance(exc, drf.APIException):
        return None  # a real bug: Django's handler500 answers without leaking anything

    if isinstance(exc, drf.ValidationError):
        errors = flatten_errors(exc.detail)
        return _drf_problem(
            status=exc.status_code,
            code="invalid",
            title="Invalid input",
            detail="The request has invalid fields; see errors.",
            errors=errors,
        )
    # Set by the authentication classes on NotAuthenticated/AuthenticationFailed.
    auth_header = getattr(exc, "auth_header", None)
    if auth_header:
        headers["WWW-Authenticate"] = auth_header
    # Throttled sets `wait` in __init__; the DRF stubs leave the attribute out.
    wait: float | None = getattr(exc, "wait", None) if isinstance(exc, drf.Throttled) else None
    if wait is not None:
        headers["Retry-After"] = str(max(1, int(wait + 0.999)))
    extra_headers = getattr(exc, "headers", None)
    if isinstance(extra_headers, dict):
        headers.update(extra_headers)
    if isinstance(exc.detail, dict) and "detail" in exc.detail:
        # simplejwt raises with {"detail": ..., "code": ...}: keep its sentence and code
        detail = str(exc.detail["detail"])
        code = str(exc.detail.get("code", exc.default_code))
    else:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else exc.default_code
    return _drf_problem(status=exc.status_code, code=str(code), detail=str(detail), headers=headers)


def _path(context: dict[str, Any]) -> str:
    request = context.get("request")
    return getattr(request, "path", "") if request is not None else ""


def _drf_problem(
    *,
    status: int,
    code: str,
    detail: str,
    title: str | None = None,
    errors: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = problem_body(status=status, code=code, detail=detail, title=title, errors=errors)
    response = Response(body, status=status, content_type=PROBLEM_CONTENT_TYPE)
    _finish(response, status, headers)
    return response


# --------------------------------------------------------------------------- Django handlers


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


@csrf_exempt  # no view here to protect: an unsafe method is a 404 like any other
def api_not_found(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    return problem_response(status=404, code="not_found", detail="Not found.")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return problem_response(status=400, code="bad_request", detail="Bad request.")
    return django_defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return problem_response(
            status=403, code="permission_denied", detail="You do not have permission to do this."
        )
    return django_defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return problem_response(status=404, code="not_found", detail="Not found.")
    return django_defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's 500 handler; a database outage raised outside DRF (middleware, plain views,
    the admin) still answers 503 with Retry-After. Django calls it inside its `except`."""
    if is_database_unavailable(sys.exc_info()[1]):
        problem = database_unavailable_problem()
        if _is_api(request):
            return problem_response(
                status=503,
                code=problem.code,
                title=problem.title,
                detail=problem.detail,
                headers=problem.headers,
            )
        response = HttpResponse(
            problem.detail, status=503, content_type="text/plain; charset=utf-8"
        )
        return _finish(response, 503, problem.headers)
    if _is_api(request):
        return problem_response(
            status=500,
            code="server_error",
            detail="An unexpected error occurred. It has been logged.",
        )
    return django_defaults.server_error(request)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if _is_api(request):
        return problem_response(status=403, code="csrf_failed", detail="CSRF verification failed.")
    from django.views.csrf import csrf_failure as django_csrf_failure

    return django_csrf_failure(request, reason)
