"""httpx client for the provider (syncqueue/PROVIDER.md); every call is logged as a ProviderCall.

The client never raises for provider trouble: it returns a `ProviderResponse` whose `outcome`
tells the relay what happened (`ok`, `rate_limited`, `error`), so retry policy stays in one place.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from django.conf import settings

from syncqueue.models import OutboxBatch, ProviderCall

logger = logging.getLogger(__name__)

# ProviderCall.error of a call sent but not (yet) answered; it stays on a call whose worker
# died mid-request: the provider may or may not have applied it (idempotency keys make a
# resend safe).
CALL_IN_FLIGHT = "in flight: no answer recorded"

_clients: dict[tuple[str, float], httpx.Client] = {}
_clients_lock = threading.Lock()


@dataclass
class ProviderResponse:
    outcome: str  # "ok" | "rate_limited" | "error"
    status_code: int | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    retry_after_seconds: float = 0.0
    error: str = ""


def _http() -> httpx.Client:
    key = (settings.SYNC_PROVIDER_URL, settings.SYNC_PROVIDER_TIMEOUT_SECONDS)
    client = _clients.get(key)
    if client is None:
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                headers = {"Content-Type": "application/json"}
                if settings.SYNC_PROVIDER_TOKEN:
                    headers["Authorization"] = f"Bearer {settings.SYNC_PROVIDER_TOKEN}"
                client = httpx.Client(
                    base_url=settings.SYNC_PROVIDER_URL,
                    timeout=httpx.Timeout(settings.SYNC_PROVIDER_TIMEOUT_SECONDS),
                    headers=headers,
                    limits=httpx.Limits(max_connections=32, max_keepalive_connections=8),
                )
                _clients[key] = client
    return client


def provider_send_batch(
    *, records: list[dict[str, Any]], batch: OutboxBatch | None
) -> ProviderResponse:
    """POST /v1/users/batch with up to SYNC_BATCH_SIZE records."""
    return _call("POST", "/v1/users/batch", {"records": records}, records=len(records), batch=batch)


def provider_send_single(*, record: dict[str, Any], batch: OutboxBatch | None) -> ProviderResponse:
    """PUT /v1/users/{id} with one record; the answer is shaped like a one-record batch."""
    response = _call("PUT", f"/v1/users/{record['user_id']}", record, records=1, batch=batch)
    return response


def _call(
    method: str, path: str, body: dict[str, Any], *, records: int, batch: OutboxBatch | None
) -> ProviderResponse:
    endpoint = f"{method} {path if method == 'POST' else '/v1/users/{id}'}"
    # Recorded (committed) before the request leaves: a worker killed mid-call still leaves
    # the row, so the call log matches what the provider received. Filled in on the answer.
    call = ProviderCall.objects.create(
        endpoint=endpoint, batch=batch, records=records, error=CALL_IN_FLIGHT
    )
    started = time.monotonic()
    response = ProviderResponse(outcome="error")
    try:
        if not settings.SYNC_PROVIDER_URL:
            raise httpx.ConnectError("SYNC_PROVIDER_URL is not configured")
        http_response = _http().request(method, path, json=body)
        response.status_code = http_response.status_code
        response = _interpret(http_response, response, single=method == "PUT")
    except httpx.TimeoutException as exc:
        response.error = f"timeout: {exc.__class__.__name__}"
    except httpx.HTTPError as exc:
        response.error = f"transport: {exc.__class__.__name__}: {exc}"
    duration_ms = int((time.monotonic() - started) * 1000)
    ProviderCall.objects.filter(pk=call.pk).update(
        status_code=response.status_code, duration_ms=duration_ms, error=response.error[:2000]
    )
    logger.info(
        "sync provider call method=%s path=%s records=%s status=%s outcome=%s duration_ms=%s error=%s",
        method,
        path,
        records,
        response.status_code,
        response.outcome,
        duration_ms,
        response.error or "-",
    )
    return response


def _interpret(
    http_response: httpx.Response, response: ProviderResponse, *, single: bool
) -> ProviderResponse:
    code = http_response.status_code
    if code == 429:
        response.outcome = "rate_limited"
        try:
            response.retry_after_seconds = float(http_response.headers.get("Retry-After", "60"))
        except ValueError:
            response.retry_after_seconds = 60.0
        response.error = "429 rate limited"
        return response
    if single and code in (200, 422):
        response.outcome = "ok"
        response.results = [_json(http_response)]
        return response
    if code == 200:
        payload = _json(http_response)
        results = payload.get("results") if isinstance(payload, dict) else None
        if isinstance(results, list):
            response.outcome = "ok"
            response.results = results
            return response
        response.error = "200 with a malformed body"
        return response
    response.error = f"HTTP {code}: {http_response.text[:200]}"
    return response


def _json(http_response: httpx.Response) -> Any:
    try:
        return http_response.json()
    except ValueError:
        return {}


def reset_clients() -> None:
    """Close pooled clients (tests that repoint SYNC_PROVIDER_URL)."""
    with _clients_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()
