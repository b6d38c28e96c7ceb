"""Authenticated requests: one coordination-Redis round trip and no database query before the
view once the user's access state is cached; every revocation still holds on the very next
request; the database decides when Redis cannot (issue #12)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from django.conf import settings as django_settings
from django.urls import include, path
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import auth_cache, keys
from accounts.models import User
from accounts.services import user_deactivate, user_logout_all, user_set_role
from accounts.tokens import token_family_revoke
from core import redis as coordination
from core.views import LimitFirstMixin
from tests.accounts.conftest import login_client_for


class WhoAmIView(LimitFirstMixin, APIView):
    """Needs only the id: nothing of the users table."""

    permission_classes = [IsAuthenticated]
    throttle_scope = "default"

    def get(self, request):
        return Response({"id": request.user.pk, "role": request.user.role})


class AdminOnlyView(LimitFirstMixin, APIView):
    permission_classes = [IsAuthenticated]

    def get(self, request):
        return Response(
            {"admin": request.user.is_admin}, status=200 if request.user.is_admin else 403
        )


urlpatterns = [
    path("api/v1/whoami", WhoAmIView.as_view()),
    path("api/v1/adminonly", AdminOnlyView.as_view()),
    path("", include("config.urls")),
]

pytestmark = [pytest.mark.urls("tests.accounts.test_auth_cache"), pytest.mark.django_db]


@pytest.fixture
def redis_calls() -> Iterator[list[str]]:
    """Commands this thread sends on the coordination client (a pass-through counter)."""
    client = coordination.coordination_client()
    calls: list[str] = []
    original = client.execute_command
    me = threading.get_ident()

    def counting(*args, **kwargs):
        if threading.get_ident() == me:
            calls.append(str(args[0]))
        return original(*args, **kwargs)

    client.execute_command = counting
    yield calls
    del client.execute_command


def test_warm_request_makes_one_redis_round_trip_and_no_query(
    member, redis_calls, django_assert_num_queries
):
    client = login_client_for(member)
    cold = client.get("/api/v1/whoami")  # state missing: the user row, then a fill
    redis_calls.clear()

    with django_assert_num_queries(0):
        warm = client.get("/api/v1/whoami")
        again = client.get("/api/v1/whoami")

    assert cold.status_code == warm.status_code == 200
    assert warm.json()["data"] == {"id": member.pk, "role": "member"}
    assert redis_calls == ["EVALSHA", "EVALSHA"]  # auth + limiter + pin in one script each
    # The limiter decision came from that call: the headers count down as before.
    remaining = int(warm["X-RateLimit-Remaining"])
    assert int(again["X-RateLimit-Remaining"]) == remaining - 1


def test_users_me_reads_the_user_row_once_in_the_view(member, django_assert_num_queries):
    client = login_client_for(member)
    client.get("/api/v1/users/me")

    with django_assert_num_queries(1):
        response = client.get("/api/v1/users/me")

    assert response.status_code == 200
    body = response.json()["data"]
    assert (body["id"], body["email"], body["name"]) == (member.pk, member.email, "Member One")


def test_a_profile_update_through_the_cached_user_captures_only_what_changed(member):
    client = login_client_for(member)
    client.get("/api/v1/users/me")

    response = client.patch("/api/v1/users/me", {"name": "Renamed"}, format="json")

    assert response.status_code == 200
    assert response.json()["data"]["name"] == "Renamed"
    assert User.objects.get(pk=member.pk).name == "Renamed"


def test_limit_refusal_still_applies_to_authenticated_users(member, settings):
    settings.RATE_LIMITS = {**django_settings.RATE_LIMITS, "default": "2/m"}
    client = login_client_for(member)

    statuses = [client.get("/api/v1/whoami").status_code for _ in range(4)]

    assert statuses == [200, 200, 429, 429]


@pytest.mark.parametrize(
    "revoke",
    [
        pytest.param(lambda user: user_logout_all(user=user), id="logout-all"),
        pytest.param(lambda user: user_deactivate(user=user), id="deactivate"),
        pytest.param(
            lambda user: (user.set_password("a-New-pass-456"), user.save()), id="password-change"
        ),
    ],
)
def test_revocation_holds_on_the_very_next_request(member, revoke):
    client = login_client_for(member)
    assert client.get("/api/v1/whoami").status_code == 200
    assert client.get("/api/v1/whoami").status_code == 200  # served from the cached state

    revoke(User.objects.get(pk=member.pk))
    response = client.get("/api/v1/whoami")

    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"


def test_role_change_holds_on_the_very_next_request(admin, member):
    user_set_role(user=User.objects.get(pk=member.pk), role="admin")
    client = login_client_for(User.objects.get(pk=member.pk))
    assert client.get("/api/v1/adminonly").status_code == 200
    assert client.get("/api/v1/adminonly").status_code == 200

    user_set_role(user=User.objects.get(pk=member.pk), role="member")

    assert client.get("/api/v1/adminonly").status_code == 403
    assert client.get("/api/v1/whoami").json()["data"]["role"] == "member"


def test_revoked_login_family_holds_on_the_very_next_request(member):
    client = login_client_for(member)
    other_login = login_client_for(member)
    assert client.get("/api/v1/whoami").status_code == 200
    assert client.get("/api/v1/whoami").status_code == 200

    family = _claim(client.tokens["access"], "fam")
    token_family_revoke(family_id=family, reason="test")

    assert client.get("/api/v1/whoami").status_code == 401
    assert other_login.get("/api/v1/whoami").status_code == 200  # another login lives on


def test_redis_unavailable_means_the_database_decides(member, django_assert_num_queries):
    client = login_client_for(member)
    assert client.get("/api/v1/whoami").status_code == 200
    coordination.breaker.trip()  # as after a failed call: Redis is skipped for a while

    with django_assert_num_queries(1):  # the user row (with its family), as before the cache
        assert client.get("/api/v1/whoami").status_code == 200
    user_logout_all(user=User.objects.get(pk=member.pk))

    response = client.get("/api/v1/whoami")
    assert response.status_code == 401
    assert response.json()["code"] == "token_revoked"


def test_a_fill_that_read_the_row_before_a_change_never_lands(member):
    check = auth_cache.auth_state_check(
        user_id=member.pk, token_version=0, family=None, limit_scope=None, pin_key=None
    )
    assert check.outcome == auth_cache.MISS
    stale = User.objects.get(pk=member.pk)

    auth_cache.auth_state_forget(user_id=member.pk)  # a change committed meanwhile
    auth_cache.auth_state_fill(user=stale, generation=check.generation)

    assert not coordination.call(lambda r: r.exists(keys.auth_state_key(member.pk)))


def _claim(token: str, name: str):
    import jwt

    return jwt.decode(token, django_settings.JWT_SIGNING_KEY, algorithms=["HS256"])[name]
