"""The read/write router against real connections: a replica alias mirroring the test
database (transactional tests, so it sees committed rows) and one at a dead port."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator

import pytest
from django.db import connections, transaction
from django.db.utils import load_backend
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from config import db_router
from config.db_router import PrimaryReplicaRouter
from core import consistency
from core.context import reset_unit_of_work
from tests.factories import UserFactory, access_token_for

pytestmark = pytest.mark.django_db(transaction=True)


def _dead_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again on exit: nothing listens there


@pytest.fixture
def replicas(settings) -> Iterator[dict[str, str]]:
    """replica_1 = a second connection to the test database; replica_dead = a closed port."""
    primary = connections["default"].settings_dict
    mirror = copy.deepcopy(primary)
    dead = copy.deepcopy(primary)
    dead["PORT"] = str(_dead_port())
    dead["HOST"] = "127.0.0.1"
    dead.setdefault("OPTIONS", {})["connect_timeout"] = 1
    # Injected as dynamically created connections (not in settings.DATABASES): Django's test
    # isolation allows those, and each is a real second connection to MariaDB.
    for alias, config in (("replica_1", mirror), ("replica_dead", dead)):
        wrapper = load_backend(config["ENGINE"]).DatabaseWrapper(config, alias)
        setattr(connections._connections, alias, wrapper)
    settings.DATABASE_REPLICAS = ["replica_1"]
    db_router._down_until.clear()
    reset_unit_of_work()
    try:
        yield {"mirror": "replica_1", "dead": "replica_dead"}
    finally:
        for alias in ("replica_1", "replica_dead"):
            try:
                connections[alias].close()
            finally:
                delattr(connections._connections, alias)
        db_router._down_until.clear()
        reset_unit_of_work()


def test_reads_go_to_the_replica_and_see_committed_rows(replicas):
    UserFactory.create_batch(3)
    reset_unit_of_work()  # a new request: no write in this unit of work
    with CaptureQueriesContext(connections["replica_1"]) as on_replica:
        assert User.objects.count() == 3
    assert len(on_replica.captured_queries) == 1


def test_writes_and_everything_after_them_go_to_the_primary(replicas):
    router = PrimaryReplicaRouter()
    assert router.db_for_read(User) == "replica_1"
    assert router.db_for_write(User) == "default"
    assert router.db_for_read(User) == "default"  # read-your-writes in the same unit
    reset_unit_of_work()
    assert router.db_for_read(User) == "replica_1"


def test_reads_inside_atomic_use_the_primary(replicas):
    with transaction.atomic():
        assert PrimaryReplicaRouter().db_for_read(User) == "default"


def test_dead_replica_falls_back_to_primary_and_is_skipped_afterwards(replicas, settings):
    settings.DATABASE_REPLICAS = ["replica_dead"]
    UserFactory()
    reset_unit_of_work()
    assert User.objects.count() == 1  # served by the primary despite the dead replica
    assert "replica_dead" not in db_router.healthy_replicas()
    started = time.monotonic()
    assert PrimaryReplicaRouter().db_for_read(User) == "default"
    assert time.monotonic() - started < 0.05  # marked down: no new connect attempt


def test_one_dead_replica_among_healthy_ones_never_fails_a_read(replicas, settings):
    settings.DATABASE_REPLICAS = ["replica_dead", "replica_1"]
    reset_unit_of_work()
    chosen = {PrimaryReplicaRouter().db_for_read(User) for _ in range(10)}
    assert chosen <= {"replica_1", "default"}
    assert "replica_1" in chosen


def test_migrations_only_on_primary():
    router = PrimaryReplicaRouter()
    assert router.allow_migrate("default", "accounts") is True
    assert router.allow_migrate("replica_1", "accounts") is False


@pytest.mark.urls("tests.core.urls")
def test_user_is_pinned_to_primary_after_a_write_across_requests(replicas, api_client):
    user = UserFactory()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(user)}")
    assert api_client.get("/api/v1/private").json()["data"]["read_alias"] == "replica_1"
    assert api_client.post("/api/v1/private").status_code == 200
    # next request, same user: within REPLICA_PIN_SECONDS reads see the write on the primary
    assert api_client.get("/api/v1/private").json()["data"]["read_alias"] == "default"
    other = UserFactory()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(other)}")
    assert api_client.get("/api/v1/private").json()["data"]["read_alias"] == "replica_1"


def test_pin_expires(replicas, settings):
    settings.REPLICA_PIN_SECONDS = 1
    consistency.pin_user_to_primary(user_id=42)
    consistency.apply_user_pin(user_id=42)
    assert PrimaryReplicaRouter().db_for_read(User) == "default"
    reset_unit_of_work()
    from core import redis as coordination

    coordination.value_delete(consistency.pin_key(42))  # what expiry does after 1 s
    consistency.apply_user_pin(user_id=42)
    assert PrimaryReplicaRouter().db_for_read(User) == "replica_1"


def test_replica_that_died_under_an_open_connection_falls_back(replicas, settings):
    """A persistent replica connection whose server went away is re-checked and skipped."""
    reset_unit_of_work()
    assert User.objects.count() == 0  # opens replica_1
    replica = connections["replica_1"]
    assert replica.connection is not None
    replica.connection.close()  # the server side is gone...
    replica.settings_dict["PORT"] = str(_dead_port())  # ...and won't come back
    replica.health_check_done = False  # a new request starts
    UserFactory()
    reset_unit_of_work()
    assert User.objects.count() == 1  # served by the primary, no error
    assert "replica_1" not in db_router.healthy_replicas()
