"""Monitoring fixtures: clean in-process monitoring state and a local webhook receiver."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from monitoring import aggregates, health


@pytest.fixture(autouse=True)
def _monitoring_state() -> Iterator[None]:
    """Flush by hand (injected clock) instead of the background thread; fresh health cache."""
    aggregates.is_flush_thread_enabled = False
    aggregates.reset()
    health.health_cache_clear()
    yield
    aggregates.reset()
    health.health_cache_clear()
    aggregates.is_flush_thread_enabled = True


class WebhookReceiver:
    """A real HTTP server on 127.0.0.1, port 0, recording every JSON body posted to it."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                receiver.requests.append({"path": self.path, "body": body})
                self.send_response(receiver.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [item["body"] for item in self.requests if item["path"] == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook_receiver(settings) -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    settings.SLACK_WEBHOOK_URL = receiver.url("/slack")
    settings.SLACK_ALERTS_ENABLED = True
    settings.DISCORD_WEBHOOK_URL = receiver.url("/discord")
    settings.DISCORD_ALERTS_ENABLED = True
    try:
        yield receiver
    finally:
        receiver.close()
