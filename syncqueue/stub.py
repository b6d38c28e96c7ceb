"""A local provider stub implementing syncqueue/PROVIDER.md, with fault controls.

A real HTTP server (stdlib ThreadingHTTPServer) for dev (`manage.py run_provider_stub`),
tests (in-process on port 0) and the benchmark. Its clock is injectable, so tests can move
windows without waiting; its limits default to the settings the relay uses.
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

logger = logging.getLogger(__name__)

MAX_BATCH_RECORDS = 1000
HOLD_MAX_SECONDS = 60.0  # a held request is let go after this even without a release
TIMEOUT_HOLD_SECONDS = 30.0  # "timeout" control: longer than any client timeout we use


class ProviderStub:
    """State and behaviour of the fake provider; `start()` serves it over HTTP."""

    def __init__(
        self,
        *,
        window_seconds: int = 3600,
        batch_limit: int = 50,
        single_limit: int = 3600,
        token: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.window_seconds = window_seconds
        self.batch_limit = batch_limit
        self.single_limit = single_limit
        self.token = token
        self.clock = clock
        self.lock = threading.RLock()
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None
        self.reset()

    # ------------------------------------------------------------------ state

    def reset(self) -> None:
        with self.lock:
            self.held_users: dict[int, dict[str, Any]] = {}
            self.answers: dict[str, dict[str, Any]] = {}  # idempotency key -> first ok answer
            self.applies: Counter[tuple[int, int]] = Counter()  # (user_id, version) -> applies
            self.replays = 0  # records answered from the idempotency memory
            self.stale = 0  # records not applied because a newer version was already held
            self.counts: Counter[tuple[str, int]] = Counter()  # (kind, window) -> counted calls
            self.over_limit = 0  # calls refused with 429 because a window's limit was reached
            self.outage_refusals = 0  # calls answered 503 by the outage control (not counted)
            self.rejections = 0
            self.records_received = 0
            self.error_rate = 0.0
            self.reject_user_ids: set[int] = set()
            self.reject_times = -1
            self.reject_counts: Counter[int] = Counter()
            self.latency_ms = 0
            self.outage = False
            self.timeout = False
            self.force_429_seconds = 0
            self.hold = "off"
            self.held_now = 0
            self.held_total = 0
            self.release_event = threading.Event()
            self.hold_arrived = threading.Condition(self.lock)

    def control(self, changes: dict[str, Any]) -> None:
        with self.lock:
            if changes.get("reset"):
                self.release_event.set()
                self.reset()
            if "error_rate" in changes:
                self.error_rate = float(changes["error_rate"])
            if "reject_user_ids" in changes:
                self.reject_user_ids = {int(value) for value in changes["reject_user_ids"]}
                self.reject_counts.clear()
            if "reject_times" in changes:
                self.reject_times = int(changes["reject_times"])
            if "latency_ms" in changes:
                self.latency_ms = int(changes["latency_ms"])
            if "outage" in changes:
                self.outage = bool(changes["outage"])
            if "timeout" in changes:
                self.timeout = bool(changes["timeout"])
                if not self.timeout:
                    self.release_event.set()
            if "force_429_seconds" in changes:
                self.force_429_seconds = int(changes["force_429_seconds"])
            if "hold" in changes:
                if changes["hold"] not in ("off", "before_apply", "after_apply"):
                    raise ValueError("hold must be off, before_apply or after_apply")
                self.hold = changes["hold"]
                if self.hold != "off":
                    self.release_event = threading.Event()

    def release(self) -> None:
        with self.lock:
            self.hold = "off"
            self.release_event.set()

    def wait_for_held(self, *, count: int = 1, timeout: float = 30.0) -> bool:
        """Block until `count` requests are being held (tests use this instead of sleeping)."""
        with self.hold_arrived:
            return self.hold_arrived.wait_for(lambda: self.held_now >= count, timeout=timeout)

    def window(self) -> int:
        return int(self.clock() // self.window_seconds)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "window": self.window(),
                "counts": {
                    f"{kind}:{window}": n for (kind, window), n in sorted(self.counts.items())
                },
                "over_limit": self.over_limit,
                "outage_refusals": self.outage_refusals,
                "records_received": self.records_received,
                "replays": self.replays,
                "stale": self.stale,
                "rejections": self.rejections,
                "applies_total": sum(self.applies.values()),
                "applied_twice": sum(1 for n in self.applies.values() if n > 1),
                "held_now": self.held_now,
                "held_total": self.held_total,
                "users": {str(user): held for user, held in self.held_users.items()},
            }

    # ------------------------------------------------------------------ behaviour

    def handle(
        self, *, kind: str, records: list[dict[str, Any]]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """One provider call: (status, body, headers). Thread-safe; holds release the lock."""
        if self.outage:
            with self.lock:
                self.outage_refusals += 1
            return 503, {"error": "outage"}, {}
        if self.timeout:
            self.release_event.wait(TIMEOUT_HOLD_SECONDS)
            return 504, {"error": "timeout"}, {}
        if self.force_429_seconds:
            return 429, {"error": "forced"}, {"Retry-After": str(self.force_429_seconds)}
        if self.error_rate and random.random() < self.error_rate:
            return 500, {"error": "injected"}, {}
        with self.lock:
            now = self.clock()
            window = int(now // self.window_seconds)
            limit = self.batch_limit if kind == "batch" else self.single_limit
            if self.counts[(kind, window)] >= limit:
                self.over_limit += 1
                retry_after = max(1, math.ceil((window + 1) * self.window_seconds - now))
                return 429, {"error": "rate limited"}, {"Retry-After": str(retry_after)}
            self.counts[(kind, window)] += 1
            self.records_received += len(records)
            hold = self.hold if kind == "batch" else "off"
            release_event = self.release_event
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        if hold == "before_apply":
            self._hold(release_event)
        with self.lock:
            results = [self._apply(record) for record in records]
        if hold == "after_apply":
            self._hold(release_event)
        return 200, {"results": results}, {}

    def _hold(self, release_event: threading.Event) -> None:
        with self.hold_arrived:
            self.held_now += 1
            self.held_total += 1
            self.hold_arrived.notify_all()
        release_event.wait(HOLD_MAX_SECONDS)
        with self.lock:
            self.held_now -= 1

    def _apply(self, record: dict[str, Any]) -> dict[str, Any]:
        key = str(record.get("idempotency_key", ""))
        if key in self.answers:
            self.replays += 1
            return self.answers[key]
        user_id = int(record["user_id"])
        version = int(record["version"])
        if user_id in self.reject_user_ids and (
            self.reject_times < 0 or self.reject_counts[user_id] < self.reject_times
        ):
            self.reject_counts[user_id] += 1
            self.rejections += 1
            return {
                "idempotency_key": key,
                "status": "rejected",
                "applied": False,
                "error": "invalid attributes",
            }
        held = self.held_users.get(user_id)
        is_applied = held is None or version > held["version"]
        if is_applied:
            self.held_users[user_id] = {
                "version": version,
                "attributes": record.get("attributes", {}),
            }
            self.applies[(user_id, version)] += 1
        else:
            self.stale += 1
        answer = {"idempotency_key": key, "status": "ok", "applied": is_applied, "error": None}
        self.answers[key] = answer
        return answer

    # ------------------------------------------------------------------ server

    def start(self, *, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a daemon thread; returns the base URL (port 0 picks a free port)."""
        self.server = ThreadingHTTPServer((host, port), _handler_for(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="provider-stub", daemon=True
        )
        self.thread.start()
        return self.url

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host.decode() if isinstance(host, bytes) else host}:{port}"

    def stop(self) -> None:
        self.release_event.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def _handler_for(stub: ProviderStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("provider stub " + format, *args)

        def _send(
            self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
        ) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            try:
                self.wfile.write(raw)
            except (BrokenPipeError, ConnectionResetError):
                logger.debug("provider stub client went away")

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"{}")

        def _authorized(self) -> bool:
            return not stub.token or self.headers.get("Authorization") == f"Bearer {stub.token}"

        def do_GET(self) -> None:
            if self.path == "/_state":
                self._send(200, stub.snapshot())
            elif self.path.startswith("/_state/users/"):
                user_id = int(self.path.rsplit("/", 1)[-1])
                with stub.lock:
                    held = stub.held_users.get(user_id)
                self._send(200 if held else 404, held or {"error": "unknown user"})
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self) -> None:
            try:
                body = self._body()
            except ValueError:
                self._send(400, {"error": "malformed JSON"})
                return
            if self.path == "/_control":
                try:
                    stub.control(body)
                except (TypeError, ValueError) as exc:
                    self._send(400, {"error": str(exc)})
                    return
                self._send(200, {"ok": True})
            elif self.path == "/_control/release":
                stub.release()
                self._send(200, {"ok": True})
            elif self.path == "/v1/users/batch":
                if not self._authorized():
                    self._send(401, {"error": "unauthorized"})
                    return
                records = body.get("records") if isinstance(body, dict) else None
                if (
                    not isinstance(records, list)
                    or not records
                    or not all(_valid(r) for r in records)
                ):
                    self._send(400, {"error": "records must be a non-empty list of records"})
                    return
                if len(records) > MAX_BATCH_RECORDS:
                    self._send(413, {"error": f"at most {MAX_BATCH_RECORDS} records"})
                    return
                self._send(*stub.handle(kind="batch", records=records))
            else:
                self._send(404, {"error": "not found"})

        def do_PUT(self) -> None:
            if not self.path.startswith("/v1/users/"):
                self._send(404, {"error": "not found"})
                return
            if not self._authorized():
                self._send(401, {"error": "unauthorized"})
                return
            try:
                record = self._body()
                path_user = int(self.path.rsplit("/", 1)[-1])
            except ValueError:
                self._send(400, {"error": "malformed request"})
                return
            if not _valid(record) or int(record["user_id"]) != path_user:
                self._send(400, {"error": "record user_id must match the path"})
                return
            status, body, headers = stub.handle(kind="single", records=[record])
            if status == 200:
                result = body["results"][0]
                self._send(200 if result["status"] == "ok" else 422, result, headers)
            else:
                self._send(status, body, headers)

    return Handler


def _valid(record: Any) -> bool:
    return (
        isinstance(record, dict)
        and isinstance(record.get("idempotency_key"), str)
        and isinstance(record.get("user_id"), int)
        and isinstance(record.get("version"), int)
        and isinstance(record.get("attributes"), dict)
    )
