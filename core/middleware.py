from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import cast

from csp.constants import HEADER as CSP_HEADER
from csp.middleware import CSPMiddleware
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.auth.models import AnonymousUser
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils.deprecation import MiddlewareMixin
from django.utils.functional import SimpleLazyObject, empty

from core.consistency import pin_user_to_primary
from core.context import has_written_var, request_id_var, reset_unit_of_work
from core.errors import problem_response

logger = logging.getLogger(__name__)

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def unit_of_work_start(incoming_request_id: str) -> None:
    """A request begins: the client's X-Request-ID when well formed (else a new one), and
    fresh read-your-writes state."""
    valid = _REQUEST_ID_RE.match(incoming_request_id)
    reset_unit_of_work(request_id=incoming_request_id if valid else None)


def _resolved_user(request: HttpRequest) -> AbstractBaseUser | AnonymousUser | None:
    """The user if authentication already ran; never triggers a session lookup."""
    user = request.__dict__.get("user")
    if isinstance(user, SimpleLazyObject):
        # LazyObject keeps the target in its own __dict__ (the stubs leave `_wrapped` out).
        wrapped = user.__dict__["_wrapped"]
        user = None if wrapped is empty else wrapped
    return user


class RequestContextMiddleware:
    """Request id in and out (X-Request-ID), fresh read-your-writes state per request, and
    the cross-request primary pin after a write."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        unit_of_work_start(request.META.get("HTTP_X_REQUEST_ID", ""))
        response = self.get_response(request)
        response["X-Request-ID"] = request_id_var.get()
        if has_written_var.get():
            user = _resolved_user(request)
            if user is not None and user.is_authenticated:
                pin_user_to_primary(user_id=user.pk)
        return response


class BodySizeLimitMiddleware:
    """413 for API bodies over API_MAX_BODY_BYTES, decided from Content-Length before parsing.
    Bodies without a length are capped by DATA_UPLOAD_MAX_MEMORY_SIZE when read."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            raw_length = request.META.get("CONTENT_LENGTH") or "0"
            try:
                length = int(raw_length)
            except ValueError:
                return problem_response(
                    status=400, code="bad_request", detail="Invalid Content-Length."
                )
            if length > settings.API_MAX_BODY_BYTES:
                return problem_response(
                    status=413,
                    code="payload_too_large",
                    detail=f"Request body exceeds {settings.API_MAX_BODY_BYTES} bytes.",
                )
        return self.get_response(request)


# --------------------------------------------------------------------------- site-only layers
# Sessions, session auth and messages serve the admin and /ops/ pages. API clients send JWTs
# (DRF authenticates them), so /api/ requests skip these three layers (bench/results/
# python-path.md, issue #12). Subclasses, not a wrapper, so Django's admin checks still find
# them. CSRF stays Django's own middleware for every path: DRF views are csrf_exempt, so for
# the API it is a cookie lookup, and `check --deploy` wants that exact class.
API_PREFIX = "/api/"


class _SiteOnly(MiddlewareMixin):
    # Derives from MiddlewareMixin (as the three middlewares below do) so super().__call__ is
    # typed; the MRO stays: the subclass, this, the Django middleware, MiddlewareMixin.
    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        return super().__call__(request)


class SiteSessionMiddleware(_SiteOnly, SessionMiddleware):
    """django.contrib.sessions for everything but /api/."""


class SiteAuthenticationMiddleware(_SiteOnly, AuthenticationMiddleware):
    """request.user from the session for everything but /api/ (DRF sets it from the JWT)."""


class SiteMessageMiddleware(_SiteOnly, MessageMiddleware):
    """django.contrib.messages for everything but /api/."""


# --------------------------------------------------------------------------- content security policy
# HTML under /api/: the Swagger UI page (and its init script, served from the same path).
API_HTML_PREFIXES = ("/api/docs/",)
# API responses are JSON, never meant to render as a page: nothing may load, nothing may frame.
API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware (policy: settings.CONTENT_SECURITY_POLICY) for the pages: the
    admin, /ops/ and /api/docs/. JSON responses under /api/ get one constant policy instead
    of django-csp building the header per response (tens of µs on the hot API paths)."""

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        path = request.path_info
        if path.startswith(API_PREFIX) and not path.startswith(API_HTML_PREFIXES):
            response = cast(HttpResponseBase, self.get_response(request))  # sync stack only
            if CSP_HEADER not in response:
                response[CSP_HEADER] = API_CONTENT_SECURITY_POLICY
            return response
        return cast(HttpResponseBase, super().__call__(request))
