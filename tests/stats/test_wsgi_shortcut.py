"""The WSGI shortcut for GET /api/stats (config.fastpath) answers exactly what Django does.

Each case sends the same request to Django's own WSGI handler and to the shortcut in front of
it, and compares status, every header and the body (time frozen, same request id), then
checks that the shortcut really answered (Django's request_started never fired).
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_started
from django.test import override_settings
from django.urls import clear_url_caches
from prometheus_client import REGISTRY

from config.fastpath import MIDDLEWARE, StatsShortcut
from stats import services
from tests.stats.conftest import database_down, store_entry

REQUEST_ID = "shortcut-test-0001"
FROZEN = "2026-06-01 12:00:00Z"


class Answer:
    def __init__(self, app: Any, environ: dict[str, Any]) -> None:
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
            captured["status"], captured["headers"] = status, headers

        body = app(environ, start_response)
        self.body = b"".join(body)
        getattr(body, "close", lambda: None)()
        self.status: str = captured["status"]
        self.header_list: list[tuple[str, str]] = captured["headers"]
        self.headers = dict(self.header_list)


def environ(method: str = "GET", path: str = "/api/stats", **extra: str) -> dict[str, Any]:
    body = extra.pop("body", "")
    return {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_X_REQUEST_ID": REQUEST_ID,
        "wsgi.input": io.BytesIO(body.encode()),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        **({"CONTENT_LENGTH": str(len(body))} if body else {}),
        **extra,
    }


@pytest.fixture
def django_requests() -> Iterator[list[Any]]:
    """Requests that went through Django's handler (its request_started signal)."""
    seen: list[Any] = []

    def record(**kwargs: Any) -> None:
        seen.append(kwargs.get("environ"))

    request_started.connect(record, weak=False)
    yield seen
    request_started.disconnect(record)


def both(*, frozen: bool = True, **extra: str) -> tuple[Answer, Answer]:
    """The same request through Django, then through the shortcut (time frozen for both)."""
    django_app = WSGIHandler()
    shortcut = StatsShortcut(django_app)
    assert shortcut.enabled
    if not frozen:
        return Answer(django_app, environ(**extra)), Answer(shortcut, environ(**extra))
    with time_machine.travel(FROZEN, tick=False):
        return Answer(django_app, environ(**extra)), Answer(shortcut, environ(**extra))


def assert_same(through_django: Answer, shortcut: Answer) -> None:
    assert shortcut.status == through_django.status
    assert shortcut.headers == through_django.headers
    assert len(shortcut.header_list) == len(through_django.header_list)  # nothing twice
    assert shortcut.body == through_django.body


@pytest.fixture
def entry(db, orders) -> services.Snapshot:
    with time_machine.travel(FROZEN, tick=False):
        return store_entry(age_seconds=30)


def test_the_middleware_list_is_the_one_the_shortcut_reproduces(settings):
    assert tuple(settings.MIDDLEWARE) == MIDDLEWARE


@pytest.mark.django_db
def test_a_hit_is_the_same_response_and_skips_django(entry, django_requests):
    through_django, shortcut = both(HTTP_X_FORWARDED_FOR="203.0.113.7")

    assert through_django.status == "200 OK"
    assert shortcut.body == entry.body
    assert shortcut.headers["X-Request-ID"] == REQUEST_ID
    assert_same(through_django, shortcut)
    assert len(django_requests) == 1  # only the Django half


@pytest.mark.django_db
def test_head_and_conditional_get_are_the_same(entry, django_requests):
    assert_same(*both(method="HEAD"))
    through_django, shortcut = both(HTTP_IF_NONE_MATCH=entry.etag)
    assert through_django.status == "304 Not Modified"
    assert_same(through_django, shortcut)
    assert len(django_requests) == 2


@pytest.mark.django_db
def test_a_new_request_id_is_minted_when_the_clients_is_malformed(entry):
    django_app = WSGIHandler()
    answer = Answer(StatsShortcut(django_app), environ(HTTP_X_REQUEST_ID="bad id!"))

    assert answer.status == "200 OK"
    assert re.fullmatch(r"[A-Za-z0-9._-]{8,64}", answer.headers["X-Request-ID"])


@pytest.mark.django_db
def test_a_refusal_is_the_same_problem(entry):
    shortcut = StatsShortcut(WSGIHandler())
    with time_machine.travel(FROZEN, tick=False):
        for _ in range(200):
            if Answer(shortcut, environ()).status.startswith("429"):
                break
        else:
            pytest.fail("the stats limit never refused")
    through_django, refused = both()

    assert refused.status == "429 Too Many Requests"
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert "Retry-After" in refused.headers
    assert_same(through_django, refused)


@pytest.mark.django_db(transaction=True)
@override_settings(STATS_COLD_WAIT_MS=50)
def test_nothing_servable_is_the_same_503():
    with database_down():
        through_django, shortcut = both(frozen=False)  # the cold wait polls the clock

    assert shortcut.status == "503 Service Unavailable"
    assert shortcut.headers["Retry-After"] == "1"
    assert_same(through_django, shortcut)


@pytest.mark.django_db
@override_settings(
    SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"),
    SECURE_HSTS_SECONDS=3600,
    SECURE_HSTS_INCLUDE_SUBDOMAINS=True,
)
def test_https_behind_the_proxy_gets_the_same_hsts(entry):
    through_django, shortcut = both(HTTP_X_FORWARDED_PROTO="https")

    assert shortcut.headers["Strict-Transport-Security"] == "max-age=3600; includeSubDomains"
    assert_same(through_django, shortcut)
    plain_django, plain_shortcut = both(HTTP_X_FORWARDED_PROTO="http")
    assert "Strict-Transport-Security" not in plain_shortcut.headers
    assert_same(plain_django, plain_shortcut)


@pytest.mark.django_db
def test_it_counts_the_request_like_the_metrics_middleware(entry):
    labels = {"method": "GET", "route": "/api/stats", "status": "200"}

    def served() -> float:
        return REGISTRY.get_sample_value("http_requests_total", labels) or 0.0

    def observed() -> float:
        sample = {"method": "GET", "route": "/api/stats"}
        return REGISTRY.get_sample_value("http_request_duration_milliseconds_count", sample) or 0.0

    before = served(), observed()
    both()
    assert (served(), observed()) == (before[0] + 2, before[1] + 2)  # one each path


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("extra", "status"),
    [
        ({"method": "POST"}, "405 Method Not Allowed"),
        ({"method": "GET", "body": "x" * 10}, "200 OK"),  # a body: Django decides
        ({"HTTP_HOST": "evil.example"}, "400 Bad Request"),
        ({"path": "/api/stats/"}, "404 Not Found"),
    ],
)
def test_what_it_does_not_handle_goes_to_django(entry, django_requests, extra, status):
    through_django, shortcut = both(**extra)

    assert shortcut.status == status
    assert len(django_requests) == 2  # both halves went through Django
    assert shortcut.headers.keys() == through_django.headers.keys()


@pytest.mark.django_db
def test_it_switches_off_when_the_middleware_list_changes(entry, settings, django_requests):
    settings.MIDDLEWARE = [*MIDDLEWARE, "django.middleware.gzip.GZipMiddleware"]
    shortcut = StatsShortcut(WSGIHandler())

    assert not shortcut.enabled
    assert Answer(shortcut, environ()).status == "200 OK"
    assert len(django_requests) == 1


@pytest.mark.django_db
def test_the_setting_switches_it_off(entry, settings, django_requests):
    settings.STATS_WSGI_SHORTCUT = False

    Answer(StatsShortcut(WSGIHandler()), environ())

    assert len(django_requests) == 1


def test_a_urlconf_without_the_endpoint_switches_it_off(settings):
    settings.ROOT_URLCONF = "tests.stats.urls_without_stats"
    clear_url_caches()

    try:
        assert not StatsShortcut(lambda environ, start_response: []).enabled
    finally:
        clear_url_caches()
