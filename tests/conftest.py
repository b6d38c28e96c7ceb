"""Test-wide fixtures: real MariaDB + Redis (see Makefile `test`), eager jobs by default.

Redis hygiene: tests own three Redis DB numbers (coordination, cache, broker: from the
URLs the Makefile sets) and flush only the first two between tests, never the broker's
and never FLUSHALL.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import connections

from config.celery import app as celery_app
from config.database import database_gate
from core import limiter
from core import redis as coordination
from core.jobs import publish_breaker

# Eager unless a test asks for the live worker; errors surface in the test.
celery_app.conf.task_always_eager = True
celery_app.conf.task_eager_propagates = True


def pytest_configure(config: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SECURE_SSL_REDIRECT = False


def _flush_test_redis() -> None:
    import redis as redis_lib

    for url in {settings.REDIS_URL, settings.REDIS_CACHE_URL} - {""}:
        client = redis_lib.Redis.from_url(url, socket_timeout=2)
        try:
            db = client.connection_pool.connection_kwargs.get("db", 0)
            assert db != 0, f"tests refuse to flush Redis DB 0 ({url}); use a dedicated DB number"
            client.flushdb()
        finally:
            client.close()


@pytest.fixture(autouse=True)
def _clean_coordination_state() -> Iterator[None]:
    coordination.reset_clients()
    publish_breaker.reset()
    database_gate.reset()
    limiter.local_limiter.clear()
    _flush_test_redis()
    yield
    coordination.reset_clients()
    publish_breaker.reset()
    database_gate.reset()


@pytest.fixture
def api_client():
    from tests.factories import api_client_for

    return api_client_for()


# --------------------------------------------------------------------------- personas
# One set of personas, built with factories (in their role's group, like real users); their
# clients come from tests.factories.api_client_for, the one way to authenticate a client.


@pytest.fixture
def member(db):
    from tests.factories import UserFactory

    return UserFactory(
        role="member", email="member@example.com", name="Member One", role_group=True
    )


@pytest.fixture
def other_member(db):
    from tests.factories import UserFactory

    return UserFactory(
        role="member", email="other@example.com", name="Other Member", role_group=True
    )


@pytest.fixture
def editor(db):
    from tests.factories import UserFactory

    return UserFactory(role="editor", email="editor@example.com", role_group=True)


@pytest.fixture
def admin(db):
    from tests.factories import UserFactory

    return UserFactory(role="admin", email="admin@example.com", role_group=True)


@pytest.fixture
def user(member):
    """The member persona, under the name most tests use for "a signed-in user"."""
    return member


@pytest.fixture
def admin_user(admin):
    return admin


@pytest.fixture
def client_for():
    """`client_for(user)`: an authenticated API client for any user (tests.factories)."""
    from tests.factories import api_client_for

    return api_client_for


@pytest.fixture
def auth_client(member):
    """An API client authenticated as the member persona."""
    from tests.factories import api_client_for

    return api_client_for(member)


@pytest.fixture
def editor_client(editor):
    from tests.factories import api_client_for

    return api_client_for(editor)


@pytest.fixture
def admin_client(admin):
    from tests.factories import api_client_for

    return api_client_for(admin)


class StatementCounter:
    """Counts SQL statements on every connection (thread-safe), via execute_wrapper."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, execute, sql, params, many, context):
        with self._lock:
            self.statements.append(sql)
        return execute(sql, params, many, context)

    def matching(self, fragment: str) -> list[str]:
        return [sql for sql in self.statements if fragment.lower() in sql.lower()]


@pytest.fixture(scope="session")
def live_worker(django_db_setup, django_db_blocker):
    """One in-thread Celery worker on the real broker for the session (transactional tests only).

    Queues are purged first so leftovers of an earlier run never execute here.
    """
    from celery.contrib.testing.worker import start_worker

    from config.celery import QUEUES

    celery_app.conf.task_always_eager = False
    with celery_app.connection_for_write() as conn:
        for queue in QUEUES:
            conn.default_channel.queue_purge(queue) if _queue_exists(conn, queue) else None
    with (
        django_db_blocker.unblock(),
        start_worker(
            celery_app,
            pool="threads",
            concurrency=4,
            perform_ping_check=False,
            queues=list(QUEUES),
            loglevel="WARNING",
            shutdown_timeout=10,
        ) as worker,
    ):
        yield worker
    celery_app.conf.task_always_eager = True
    for alias in connections:
        connections[alias].close()


def _queue_exists(conn: Any, queue: str) -> bool:
    try:
        conn.default_channel.queue_declare(queue=queue, passive=True)
        return True
    except Exception:
        return False


@pytest.fixture
def eager_off(live_worker) -> Iterator[None]:
    """Publish to the live worker for this test (pair with transactional db)."""
    celery_app.conf.task_always_eager = False
    yield
    celery_app.conf.task_always_eager = True


@pytest.fixture
def database_proxy(transactional_db) -> Iterator[Any]:
    """The `default` connection goes through a fault proxy (deploy/dev/faultproxy.py) for this
    test: `database_proxy.set_mode("refuse")` takes MariaDB away, `"stall"` freezes it."""
    from deploy.dev.faultproxy import FaultProxy

    connection = connections["default"]
    if connection.vendor != "mysql":
        pytest.fail("needs MariaDB: run it through make test (DATABASE_URL=mysql://...)")
    settings_dict = connection.settings_dict
    original = (settings_dict["HOST"], settings_dict["PORT"])
    upstream = (original[0] or "127.0.0.1", int(original[1] or 3306))
    with FaultProxy(upstream=upstream) as proxy:
        connection.close()
        settings_dict["HOST"], settings_dict["PORT"] = "127.0.0.1", proxy.port
        try:
            yield proxy
        finally:
            proxy.set_mode("pass")
            connection.close()
            settings_dict["HOST"], settings_dict["PORT"] = original
            connection.close()


@pytest.fixture
def broker_proxy() -> Iterator[Any]:
    """Publishing goes through a fault proxy in front of the test broker for this test (not
    eager): `broker_proxy.set_mode("refuse")` takes the broker away."""
    from urllib.parse import urlsplit

    from config.celery import publisher_broker_options
    from deploy.dev.faultproxy import FaultProxy

    original = celery_app.conf.broker_url
    parts = urlsplit(original)
    if parts.scheme != "redis":
        pytest.fail(
            "needs a Redis broker: run it through make test (CELERY_BROKER_URL=redis://...)"
        )

    def repoint(url: str) -> None:
        celery_app.conf.broker_url = celery_app.conf.broker_write_url = url
        if celery_app._pool is not None:
            celery_app._pool.force_close_all()
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    # An in-thread live worker (worker_init) gives this process the worker's broker options.
    options = dict(celery_app.conf.broker_transport_options)
    connection_timeout = celery_app.conf.broker_connection_timeout
    celery_app.conf.broker_transport_options.update(
        publisher_broker_options(timeout_seconds=settings.CELERY_PUBLISH_TIMEOUT_SECONDS)
    )
    celery_app.conf.broker_connection_timeout = settings.CELERY_PUBLISH_TIMEOUT_SECONDS
    with FaultProxy(upstream=(parts.hostname or "127.0.0.1", parts.port or 6379)) as proxy:
        repoint(parts._replace(netloc=f"127.0.0.1:{proxy.port}").geturl())
        celery_app.conf.task_always_eager = False
        try:
            yield proxy
        finally:
            celery_app.conf.task_always_eager = True
            celery_app.conf.broker_transport_options.clear()
            celery_app.conf.broker_transport_options.update(options)
            celery_app.conf.broker_connection_timeout = connection_timeout
            repoint(original)
