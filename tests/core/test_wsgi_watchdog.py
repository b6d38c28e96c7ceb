"""The request timeout deploy/web gives granian (gunicorn's arbiter has its own): a request
running past WEB_TIMEOUT_SECONDS ends its worker. Time is injected; nothing sleeps."""

from __future__ import annotations

import time

import pytest

from core.wsgi_watchdog import RequestWatchdog


def _start_response(status, headers):
    return None


def test_a_request_past_the_timeout_ends_the_worker_and_a_finished_one_never_does():
    ended: list[dict] = []
    seen_inside: list[bool] = []
    watchdog: RequestWatchdog

    def app(environ, start_response):
        started = time.monotonic()
        seen_inside.append(watchdog.check(now=started + 29))  # within 30 s: nothing happens
        seen_inside.append(watchdog.check(now=started + 31))  # past it: the worker ends
        start_response("200 OK", [])
        return [b"ok"]

    watchdog = RequestWatchdog(app, timeout_seconds=30, on_timeout=ended.append)
    body = watchdog({"REQUEST_METHOD": "GET", "PATH_INFO": "/api/slow"}, _start_response)

    assert body == [b"ok"]
    assert seen_inside == [False, True]
    assert ended and ended[0]["method"] == "GET" and ended[0]["path"] == "/api/slow"
    assert ended[0]["seconds"] > 30
    # Finished requests are forgotten: a later check finds nothing however late it is.
    assert watchdog.check(now=time.monotonic() + 3600) is False
    assert len(ended) == 1


def test_the_application_error_still_clears_the_request():
    def failing(environ, start_response):
        raise RuntimeError("boom")

    watchdog = RequestWatchdog(failing, timeout_seconds=30, on_timeout=lambda request: None)
    with pytest.raises(RuntimeError):
        watchdog({"REQUEST_METHOD": "GET", "PATH_INFO": "/x"}, _start_response)

    assert watchdog.running == {}
