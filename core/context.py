"""Per-request / per-job context: request id and read-your-writes state.

Context variables are reset at the start of every request (middleware) and every
Celery job (signals), so nothing leaks between units of work on a reused thread.
"""

from __future__ import annotations

import contextvars
import uuid

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
# True once this request/job wrote to the primary: later reads must see that write.
has_written_var: contextvars.ContextVar[bool] = contextvars.ContextVar("has_written", default=False)
# True when the user wrote within REPLICA_PIN_SECONDS (coordination key): read the primary.
is_pinned_var: contextvars.ContextVar[bool] = contextvars.ContextVar("is_pinned", default=False)


def new_request_id() -> str:
    return uuid.uuid4().hex


def reset_unit_of_work(*, request_id: str | None = None) -> None:
    request_id_var.set(request_id or new_request_id())
    has_written_var.set(False)
    is_pinned_var.set(False)
