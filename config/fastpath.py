"""The WSGI shortcut for GET /api/stats, in front of Django.

/api/stats is built for bot-scale traffic: one Redis round trip and stored bytes. Through
Django the same request spends more CPU around that call than in it (request signals, URL
resolution, the middleware chain, the response object): measured in-process, 250 µs of CPU
per request through Django against 110 µs here (bench/results/stats.md has the server rows).

The shortcut answers the same bytes and headers as the Django path, and records the same
metrics, by reusing its parts: `stats.views.stats_reply` (limiter + entry, one script call),
the headers of Django's SecurityMiddleware and XFrameOptionsMiddleware (computed once by
those classes), the API's constant CSP, the request id of core.middleware, and
`monitoring.metrics.request_record`. Anything it does not handle goes to Django untouched:
other paths and methods, a request with a body, a host Django would refuse, an HTTP request
that SECURE_SSL_REDIRECT would redirect, DISALLOWED_USER_AGENTS or PREPEND_WWW in use.

It switches itself off (STATS_WSGI_SHORTCUT=0 does too) when settings.MIDDLEWARE is not the
list below: a middleware added later must not be skipped silently. tests/stats/
test_wsgi_shortcut.py compares both paths header by header.

Not reproduced: Django's per-response "Too Many Requests" log line for a 429 (the limiter's
`rate_limited` counters count them) and the request_started/finished signals (their work is
done here directly: the database budget, and closing connections when one was opened).
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.handlers.wsgi import WSGIRequest
from django.db import close_old_connections, connections
from django.http import HttpResponse
from django.http.request import split_domain_port, validate_host
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import Resolver404, resolve

from config.database import request_budget_end, request_budget_start
from core.client_ip import client_ip_from
from core.context import request_id_var
from core.errors import server_error
from core.middleware import API_CONTENT_SECURITY_POLICY, unit_of_work_start
from monitoring import metrics
from stats.services import now_ms
from stats.views import stats_reply, stats_subject

logger = logging.getLogger(__name__)

PATH = "/api/stats"
_METHODS = frozenset({"GET", "HEAD"})
# settings.MIDDLEWARE as this shortcut reproduces it for PATH (see the module docstring).
MIDDLEWARE = (
    "core.middleware.RequestContextMiddleware",
    "monitoring.middleware.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files only
    "core.middleware.BodySizeLimitMiddleware",  # no body here: bodies go to Django
    "core.middleware.SiteSessionMiddleware",  # not for /api/
    "django.middleware.common.CommonMiddleware",  # host check and Content-Length, here
    "django.middleware.csrf.CsrfViewMiddleware",  # nothing to do for a GET of a csrf_exempt view
    "core.middleware.SiteAuthenticationMiddleware",  # not for /api/
    "core.middleware.SiteMessageMiddleware",  # not for /api/
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def _reason(status: int) -> str:
    return f"{status} {HttpResponse(status=status).reason_phrase}"


_STATUS_LINES = {status: _reason(status) for status in (200, 304, 429, 500, 503)}


def _middleware_headers(*, secure: bool) -> list[tuple[str, str]]:
    """What Django's security and clickjacking middleware add to an API response, from
    those classes themselves, plus the API's constant Content-Security-Policy."""
    request = WSGIRequest(
        {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": PATH,
            "wsgi.input": io.BytesIO(b""),
            "wsgi.url_scheme": "https" if secure else "http",
        }
    )
    response = HttpResponse()
    before = set(response.headers)
    response = SecurityMiddleware(lambda _request: response).process_response(request, response)
    response = XFrameOptionsMiddleware(lambda _request: response).process_response(
        request, response
    )
    added = [(name, value) for name, value in response.items() if name not in before]
    return [*added, ("Content-Security-Policy", API_CONTENT_SECURITY_POLICY)]


def _is_secure(environ: dict[str, Any]) -> bool:
    # HttpRequest.is_secure(), on the environ.
    if settings.SECURE_PROXY_SSL_HEADER:
        header, secure_value = settings.SECURE_PROXY_SSL_HEADER
        value = environ.get(header)
        if value is not None:
            return bool(value.split(",", 1)[0].strip() == secure_value)
    return bool(environ.get("wsgi.url_scheme") == "https")


def _allowed_hosts() -> list[str]:
    # HttpRequest.get_host()'s list, DEBUG's defaults included.
    if settings.DEBUG and not settings.ALLOWED_HOSTS:
        return [".localhost", "127.0.0.1", "[::1]"]
    return list(settings.ALLOWED_HOSTS)


class StatsShortcut:
    """WSGI middleware: GET/HEAD /api/stats answered here, everything else by `app`."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app
        self.enabled = (
            settings.STATS_WSGI_SHORTCUT
            and tuple(settings.MIDDLEWARE) == MIDDLEWARE
            and not settings.DISALLOWED_USER_AGENTS
            and not settings.PREPEND_WWW
            and not settings.USE_X_FORWARDED_HOST
        )
        try:
            self.route: str | None = resolve(PATH).route
        except Resolver404:  # a URLconf without the stats endpoint: nothing to shortcut
            self.route, self.enabled = None, False
        if settings.STATS_WSGI_SHORTCUT and not self.enabled:
            logger.warning("stats wsgi shortcut off: settings it does not reproduce are in use")
        self.allowed_hosts = _allowed_hosts()
        self.headers = {secure: _middleware_headers(secure=secure) for secure in (False, True)}

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if not (self.enabled and environ.get("PATH_INFO") == PATH and self._takes(environ)):
            return self.app(environ, start_response)
        started = time.perf_counter()
        unit_of_work_start(environ.get("HTTP_X_REQUEST_ID", ""))
        request_budget_start()
        status = 500
        try:
            status, headers, body = self._answer(environ)
            headers += self.headers[_is_secure(environ)]
            headers += [("Content-Length", str(len(body))), ("X-Request-ID", request_id_var.get())]
            start_response(_STATUS_LINES.get(status) or _reason(status), headers)
            return [body]
        finally:
            request_budget_end()
            if any(c.connection is not None for c in connections.all(initialized_only=True)):
                close_old_connections()  # what request_finished does (cold computes only)
            metrics.request_record(
                method=environ["REQUEST_METHOD"],
                route=self.route,
                status=status,
                duration_ms=(time.perf_counter() - started) * 1000,
            )

    def _takes(self, environ: dict[str, Any]) -> bool:
        if environ.get("REQUEST_METHOD") not in _METHODS:
            return False
        if environ.get("CONTENT_LENGTH") not in (None, "", "0"):
            return False
        if "HTTP_TRANSFER_ENCODING" in environ:
            return False
        if settings.SECURE_SSL_REDIRECT and not _is_secure(environ):
            return False
        domain, _port = split_domain_port(environ.get("HTTP_HOST", ""))
        return bool(domain) and validate_host(domain, self.allowed_hosts)

    def _answer(self, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        try:
            reply = stats_reply(
                subject=stats_subject(
                    client_ip_from(
                        remote_addr=environ.get("REMOTE_ADDR", ""),
                        forwarded_for=environ.get("HTTP_X_FORWARDED_FOR", ""),
                    )
                ),
                if_none_match=environ.get("HTTP_IF_NONE_MATCH"),
                at_ms=now_ms(),
            )
        except Exception:
            logger.exception("GET %s failed", PATH)
            reply = server_error(WSGIRequest(environ))  # Django's 500 (or 503) handler
        if isinstance(reply, HttpResponse):
            return reply.status_code, list(reply.items()), reply.content
        if reply.status == 304:
            return 304, reply.headers, b""
        return 200, [("Content-Type", "application/json"), *reply.headers], reply.body
