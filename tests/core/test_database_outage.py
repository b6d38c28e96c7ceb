"""A database outage answers 503 problem+json with Retry-After on every path, never a 500
(issue #13, defect 1): MariaDB is taken away through the fault proxy."""

from __future__ import annotations

import pytest
from django.db import connection
from rest_framework.test import APIClient

from tasks.models import Task
from tests.factories import UserFactory, api_client_for

pytestmark = pytest.mark.django_db(transaction=True)


def _assert_retry_later(response, *, problem: bool = True) -> None:
    assert response.status_code == 503, response.content[:300]
    assert int(response["Retry-After"]) >= 1
    assert response["Cache-Control"] == "no-store"
    if problem:
        assert response["Content-Type"] == "application/problem+json"
        body = response.json()
        assert body["status"] == 503
        assert body["code"] == "database_unavailable"
        assert "Traceback" not in response.content.decode()


@pytest.fixture
def client_for_user(database_proxy):
    user = UserFactory()
    client = api_client_for(user, raise_request_exception=False)
    client.user = user
    return client


def test_jwt_user_lookup_answers_503_when_database_refuses(database_proxy, client_for_user):
    database_proxy.set_mode("refuse")
    _assert_retry_later(client_for_user.get("/api/v1/tasks"))
    _assert_retry_later(client_for_user.get("/api/v1/users/me"))


def test_write_answers_503_and_writes_nothing_when_connections_reset(
    database_proxy, client_for_user
):
    database_proxy.set_mode("reset")
    response = client_for_user.post("/api/v1/tasks", {"title": "during outage"}, format="json")
    _assert_retry_later(response)
    database_proxy.set_mode("pass")
    connection.close()  # the test client skips Django's per-request connection checks
    assert not Task.objects.filter(title="during outage").exists()
    # and the service resumes on its own once the database is back
    assert client_for_user.get("/api/v1/tasks").status_code == 200


def test_anonymous_read_answers_503(database_proxy):
    database_proxy.set_mode("refuse")
    _assert_retry_later(APIClient(raise_request_exception=False).get("/api/v2/posts"))


def test_plain_django_paths_answer_503_not_500(database_proxy):
    """Outside DRF (sitemap, admin with a session) the 500 handler sees the outage too."""
    client = APIClient(raise_request_exception=False)
    client.cookies["sessionid"] = "x" * 32
    database_proxy.set_mode("refuse")
    _assert_retry_later(client.get("/sitemap.xml"), problem=False)
    _assert_retry_later(client.get("/admin/"), problem=False)


def test_a_real_bug_is_still_a_500():
    from core.errors import is_database_unavailable

    with pytest.raises(Exception) as caught, connection.cursor() as cursor:
        cursor.execute("SELECT no_such_column FROM accounts_user")
    assert not is_database_unavailable(caught.value)
