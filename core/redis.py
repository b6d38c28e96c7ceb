"""Redis role clients and the coordination helpers every app shares.

Two roles (see ARCHITECTURE.md): the *cache* (disposable, may evict) is used through
Django's `caches["default"]`; the *coordination* instance (locks, limiter, generations,
budgets, the stats entry; never evicts) is used here through raw keys: no prefix, no
pickling, so Lua scripts and these helpers share the same keys.

Failure model:
- `REDIS_URL` empty → the helpers run on an in-process store (embedded mode, tests of it).
- Redis configured but unreachable → `CoordinationUnavailable`; a per-process breaker
  then skips Redis for `REDIS_BREAKER_SECONDS`, so a dead Redis costs one timeout per
  process every couple of seconds instead of one per call. Callers degrade explicitly.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Faults that mean "can't use coordination right now" (degrade), as opposed to bugs such as a
# Lua error: unreachable, timed out, full (noeviction answers OOM to writes), or a replica
# promoted/demoted under us (READONLY).
_REDIS_ERRORS = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.ReadOnlyError,
)


class CoordinationUnavailable(Exception):
    """The coordination Redis is configured but cannot be reached right now."""


class Breaker:
    """After a failure this process skips the service for REDIS_BREAKER_SECONDS, so a dead
    service costs one short timeout per process every couple of seconds, not one per call."""

    def __init__(self) -> None:
        self.open_until = 0.0

    def is_open(self) -> bool:
        return time.monotonic() < self.open_until

    def trip(self) -> None:
        self.open_until = time.monotonic() + settings.REDIS_BREAKER_SECONDS

    def reset(self) -> None:
        self.open_until = 0.0


breaker = Breaker()
_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


def redis_client_for(url: str) -> redis.Redis:
    """One pooled client per URL and process, with the short timeouts from settings."""
    client = _clients.get(url)
    if client is None:
        with _clients_lock:
            client = _clients.get(url)
            if client is None:
                client = redis.Redis.from_url(
                    url,
                    socket_timeout=settings.REDIS_SOCKET_TIMEOUT_SECONDS,
                    socket_connect_timeout=settings.REDIS_CONNECT_TIMEOUT_SECONDS,
                    health_check_interval=30,
                    retry_on_timeout=False,
                )
                _clients[url] = client
    return client


def is_configured() -> bool:
    return bool(settings.REDIS_URL)


def coordination_client() -> redis.Redis:
    """The raw coordination client; raises CoordinationUnavailable while the breaker is open."""
    if not settings.REDIS_URL:
        raise CoordinationUnavailable("REDIS_URL is not configured")
    if breaker.is_open():
        raise CoordinationUnavailable("coordination Redis recently failed; breaker open")
    return redis_client_for(settings.REDIS_URL)


def call(operation: Callable[[redis.Redis], Awaitable[T] | T]) -> T:
    """Run one operation on the coordination Redis, translating faults and tripping the breaker.

    redis-py annotates each command as `Awaitable[T] | T` (one signature for its sync and
    asyncio clients); this client is the sync one, so the result is the plain `T`.
    """
    client = coordination_client()
    try:
        return cast("T", operation(client))  # sync client: never an Awaitable
    except _REDIS_ERRORS as exc:
        # reset_clients() closes a client's connections even while another thread uses them;
        # that thread's error says nothing about Redis, so only a current client trips.
        if _clients.get(settings.REDIS_URL) is client:
            breaker.trip()
        logger.warning("coordination redis unavailable error=%s", exc)
        raise CoordinationUnavailable(str(exc)) from exc


_scripts: dict[str, Any] = {}


def script(source: str) -> Callable[..., Any]:
    """A Lua script registered on the current coordination client: call it as
    `script(SOURCE)(keys=[...], args=[...])`, inside `call(...)` so faults are translated.

    The registration is cached per source and redone when the client object changed
    (repointed REDIS_URL, reset_clients), so a script never runs on a stale, closed client.
    It runs by EVALSHA and reloads itself on NOSCRIPT (e.g. after a Redis restart).
    Raises CoordinationUnavailable when Redis is not configured or the breaker is open.
    """
    client = coordination_client()
    registered = _scripts.get(source)
    if registered is None or registered.registered_client is not client:
        registered = client.register_script(source)
        _scripts[source] = registered
    return registered


def reset_clients() -> None:
    """Forget pooled clients and the breaker (tests that repoint REDIS_URL, forked workers)."""
    with _clients_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()
        _scripts.clear()
    breaker.reset()
    local_store.clear()


# --------------------------------------------------------------------------- in-process store


class LocalStore:
    """A tiny thread-safe key/value store with expiry: the embedded-mode coordination store."""

    def __init__(self) -> None:
        self._data: dict[str, tuple[Any, float | None]] = {}
        self._lock = threading.RLock()

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def get(self, key: str) -> Any:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            value, expires_at = item
            if expires_at is not None and expires_at <= time.monotonic():
                del self._data[key]
                return None
            return value

    def set(
        self, key: str, value: Any, *, ttl_seconds: float | None = None, nx: bool = False
    ) -> bool:
        with self._lock:
            if nx and self.get(key) is not None:
                return False
            expires_at = time.monotonic() + ttl_seconds if ttl_seconds else None
            self._data[key] = (value, expires_at)
            return True

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def incr(self, key: str, amount: int = 1, *, ttl_seconds: float | None = None) -> int:
        with self._lock:
            current = self.get(key)
            value = int(current or 0) + amount
            _, expires_at = self._data.get(key, (None, None))
            if current is None:
                expires_at = time.monotonic() + ttl_seconds if ttl_seconds else None
            self._data[key] = (value, expires_at)
            return value

    def hincrby(self, key: str, field: str, amount: int = 1) -> int:
        with self._lock:
            table = self.get(key)
            if table is None:
                table = {}
                self._data[key] = (table, None)
            count = int(table.get(field, 0)) + amount
            table[field] = count
            return count

    def ttl_seconds(self, key: str) -> float | None:
        with self._lock:
            item = self._data.get(key)
            if item is None or item[1] is None:
                return None
            return max(0.0, item[1] - time.monotonic())


local_store = LocalStore()


# --------------------------------------------------------------------------- simple helpers


def value_get(key: str) -> bytes | None:
    if not is_configured():
        value = local_store.get(key)
        return value if value is None or isinstance(value, bytes) else str(value).encode()
    raw: bytes | None = call(lambda r: r.get(key))
    return raw


def value_set(
    key: str, value: bytes | str | int, *, ttl_seconds: float | None = None, nx: bool = False
) -> bool:
    if not is_configured():
        raw = value if isinstance(value, bytes) else str(value).encode()
        return local_store.set(key, raw, ttl_seconds=ttl_seconds, nx=nx)
    px = int(ttl_seconds * 1000) if ttl_seconds else None
    return bool(call(lambda r: r.set(key, value, px=px, nx=nx)))


def value_delete(key: str) -> None:
    if not is_configured():
        local_store.delete(key)
        return
    call(lambda r: r.delete(key))


def counter_incr(key: str, amount: int = 1, *, ttl_seconds: float | None = None) -> int:
    """Atomic increment; the TTL is set when the key is created (not refreshed)."""
    if not is_configured():
        return local_store.incr(key, amount, ttl_seconds=ttl_seconds)

    def _incr(r: redis.Redis) -> int:
        pipe = r.pipeline(transaction=True)
        pipe.incrby(key, amount)
        if ttl_seconds:
            pipe.expire(key, int(ttl_seconds), nx=True)
        return int(pipe.execute()[0])

    return call(_incr)


def hash_incr(key: str, field: str, amount: int = 1) -> int:
    if not is_configured():
        return local_store.hincrby(key, field, amount)
    return int(call(lambda r: r.hincrby(key, field, amount)))


# --------------------------------------------------------------------------- locks

_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


def lock_acquire(key: str, *, ttl_seconds: float) -> str | None:
    """Take a token-checked lock (`SET NX PX`); returns the token, or None if held elsewhere."""
    token = uuid.uuid4().hex
    if value_set(key, token, ttl_seconds=ttl_seconds, nx=True):
        return token
    return None


def lock_release(key: str, token: str) -> bool:
    """Release only if we still hold it (compare-and-delete): an expired lock taken by another
    holder is never deleted by a slow former holder."""
    if not is_configured():
        with local_store.lock:
            if local_store.get(key) == token.encode():
                local_store.delete(key)
                return True
            return False
    return bool(call(lambda _r: script(_RELEASE_LUA)(keys=[key], args=[token])))


# --------------------------------------------------------------------------- generations


def generation_get(key: str) -> int | None:
    """Current generation for a cache namespace, created from epoch-ms when missing.

    Returns None when the coordination store is unreachable: callers must then bypass
    the cache (read the database, don't fill), since they can't tell what is current.
    """
    try:
        raw = value_get(key)
        if raw is None:
            value_set(key, int(time.time() * 1000), nx=True)
            raw = value_get(key)
        return int(raw) if raw is not None else None
    except CoordinationUnavailable:
        return None


def generation_bump(key: str) -> int | None:
    """Move the namespace to a new generation (O(1) invalidation). None if Redis is down."""
    try:
        if generation_get(key) is None:
            return None
        return counter_incr(key)
    except CoordinationUnavailable:
        logger.warning("generation bump skipped: coordination down key=%s", key)
        return None
