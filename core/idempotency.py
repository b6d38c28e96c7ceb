"""`Idempotency-Key` for the POST endpoints that create things (IETF httpapi
draft-ietf-httpapi-idempotency-key-header).

A client that may retry a create (a timeout, a dropped connection) sends a unique key with
it. The first request with that key runs; what it answered (status, body, `Location`) is kept
in the coordination Redis for IDEMPOTENCY_TTL_SECONDS, and a retry with the same key and the
same body gets exactly that answer again (`Idempotent-Replayed: true`) without creating a
second row. Keys are scoped per user: two users never see each other's keys.

- same key, another body (or another endpoint): 422 `idempotency_key_mismatch`;
- same key while the first request is still running: 409 `idempotency_key_in_use`;
- a malformed key: 400 `invalid_idempotency_key`;
- coordination Redis unreachable: 503 `idempotency_unavailable`. A request that carries a key
  asked for at-most-once; running it unprotected could create a duplicate, so it fails closed.

Only successful (2xx) answers are kept. An error (a 400, a 409, a crash) releases the key,
so the client may fix the request and retry with the same key. Requests without the header
behave as before. A view opts in per method:

    @extend_schema(...)
    @idempotent_create
    def post(self, request): ...

`core.schema` documents the header and the problem statuses for every method so marked.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from core import redis as coordination
from core.errors import Conflict, DomainError, ServiceUnavailable

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# The draft suggests at least 24 hours; a client retrying later than that is a new request.
IDEMPOTENCY_TTL_SECONDS = 24 * 3600
# How long a request may hold its key before it counts as abandoned (a killed worker): above
# the web server's 30 s request timeout, so a live request never loses its key.
IN_FLIGHT_TTL_SECONDS = 60
MAX_KEY_CHARS = 255
# An sf-string (RFC 8941), quoted or not: printable ASCII without `"` or `\`.
_KEY_RE = re.compile(r"^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,255}$")  # 255 = MAX_KEY_CHARS
_REPLAYED_HEADERS = ("Location", "Content-Type")

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    HEADER,
    type={
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_KEY_CHARS + 2,  # the two quotes of an sf-string
        "pattern": r'^"?[\x20-\x21\x23-\x5b\x5d-\x7e]{1,255}"?$',
    },
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "A unique key (e.g. a UUID) that makes retrying this create safe "
        "(draft-ietf-httpapi-idempotency-key-header). The same key with the same body within "
        "24 hours replays the first answer (status, body, Location; `Idempotent-Replayed: "
        "true`) and creates nothing; with another body it is a 422, while the first request "
        "still runs a 409. Scoped to the caller. 503 when the key cannot be checked."
    ),
)


class InvalidIdempotencyKey(DomainError):
    status_code = 400
    code = "invalid_idempotency_key"
    title = "Invalid Idempotency-Key"


class IdempotencyKeyInUse(Conflict):
    code = "idempotency_key_in_use"
    title = "Idempotency-Key in use"


class IdempotencyKeyMismatch(DomainError):
    status_code = 422
    code = "idempotency_key_mismatch"
    title = "Idempotency-Key reused with another request"


class IdempotencyUnavailable(ServiceUnavailable):
    code = "idempotency_unavailable"
    title = "Idempotency store unavailable"


def idempotency_redis_key(*, user_id: Any, key: str) -> str:
    # Hashed: any key a client sends becomes 64 hex characters in the Redis key.
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"core:v1:idem:{user_id}:{digest}"


def parse_key(raw: str) -> str:
    """The key from the header (an sf-string, quotes optional); InvalidIdempotencyKey if not
    1-255 printable ASCII characters."""
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if not _KEY_RE.match(value):
        raise InvalidIdempotencyKey(
            f"{HEADER} must be 1 to {MAX_KEY_CHARS} printable ASCII characters.",
            errors={HEADER: ["1 to 255 printable ASCII characters, without quotes inside."]},
        )
    return value


def request_fingerprint(request: Request) -> str:
    """What makes two requests "the same": method, path and the parsed body (so whitespace and
    key order do not matter, every value does)."""
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    material = f"{request.method}\n{request.path}\n{body}"
    return hashlib.sha256(material.encode()).hexdigest()


def _load(redis_key: str) -> dict[str, Any] | None:
    raw = coordination.value_get(redis_key)
    return json.loads(raw) if raw else None


def _replay(record: dict[str, Any]) -> HttpResponse:
    response = HttpResponse(
        base64.b64decode(record["body"]), status=record["status"], content_type=None
    )
    for name, value in record["headers"].items():
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response


def _store(redis_key: str, *, fingerprint: str, response: HttpResponse) -> None:
    record = {
        "state": "done",
        "fingerprint": fingerprint,
        "status": response.status_code,
        "body": base64.b64encode(response.content).decode(),
        "headers": {name: response[name] for name in _REPLAYED_HEADERS if name in response},
    }
    coordination.value_set(redis_key, json.dumps(record), ttl_seconds=IDEMPOTENCY_TTL_SECONDS)


def _release(redis_key: str) -> None:
    try:
        coordination.value_delete(redis_key)
    except coordination.CoordinationUnavailable:
        # The in-flight mark expires by itself after IN_FLIGHT_TTL_SECONDS.
        logger.warning("idempotency key not released: coordination down key=%s", redis_key)


def idempotent_create(method: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a DRF view's `post`: honour `Idempotency-Key` as the module docstring says.

    Runs after authentication, the rate limit and the permission check (it wraps the handler,
    which DRF calls after `initial()`), so the key is scoped to a known user.
    """

    @wraps(method)
    def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> Any:
        raw = request.headers.get(HEADER)
        if raw is None:
            return method(view, request, *args, **kwargs)
        key = parse_key(raw)
        fingerprint = request_fingerprint(request)
        redis_key = idempotency_redis_key(user_id=request.user.pk, key=key)
        pending = json.dumps({"state": "in_flight", "fingerprint": fingerprint})
        try:
            is_first = coordination.value_set(
                redis_key, pending, ttl_seconds=IN_FLIGHT_TTL_SECONDS, nx=True
            )
            record = None if is_first else _load(redis_key)
        except coordination.CoordinationUnavailable:
            raise IdempotencyUnavailable(
                f"Requests with an {HEADER} cannot be checked right now; retry shortly.",
                retry_after_seconds=2,
            ) from None
        if not is_first:
            return _answer_repeat(record, fingerprint=fingerprint, key=key)
        try:
            response = method(view, request, *args, **kwargs)
        except BaseException:
            _release(redis_key)
            raise
        if not 200 <= response.status_code < 300:
            _release(redis_key)
            return response
        # Rendered here (not by Django's handler) so the stored bytes are the ones sent.
        response = view.finalize_response(request, response, *args, **kwargs)
        if isinstance(response, Response):
            response.render()
        try:
            _store(redis_key, fingerprint=fingerprint, response=response)
        except coordination.CoordinationUnavailable:
            # The row exists and the client gets its answer; a retry would now run again.
            logger.error("idempotency record not stored: coordination down key=%s", redis_key)
        return response

    # A marker on the function object, read back by is_idempotent_create (core.schema).
    wrapper.is_idempotent_create = True  # type: ignore[attr-defined]
    # Adds to the parameters of any extend_schema stacked above (drf-spectacular chains them).
    return extend_schema(parameters=[IDEMPOTENCY_KEY_PARAMETER])(wrapper)


def _answer_repeat(record: dict[str, Any] | None, *, fingerprint: str, key: str) -> HttpResponse:
    if record is None:
        # Released or expired between our SET NX and GET: the first request failed; the
        # client retries and this time runs it.
        raise IdempotencyKeyInUse(
            "The first request with this key just finished without a result; retry.",
            headers={"Retry-After": "1"},
        )
    if record["fingerprint"] != fingerprint:
        raise IdempotencyKeyMismatch(
            f"This {HEADER} was used with a different request; use a new key for a new request."
        )
    if record["state"] != "done":
        raise IdempotencyKeyInUse(
            f"A request with this {HEADER} is still being processed; retry shortly.",
            headers={"Retry-After": "1"},
        )
    logger.info("idempotent replay key_sha=%s", hashlib.sha256(key.encode()).hexdigest()[:12])
    return _replay(record)


def is_idempotent_create(handler: Any) -> bool:
    return bool(getattr(handler, "is_idempotent_create", False))
