from __future__ import annotations

import jwt
from django.conf import settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.models import User
from accounts.services import user_deactivate
from tests.accounts.conftest import PASSWORD, login_client_for, obtain
from tests.factories import api_client_for


def _claims(token: str) -> dict:
    return jwt.decode(token, settings.JWT_SIGNING_KEY, algorithms=["HS256"])


def test_obtain_returns_a_pair_carrying_token_version(member, api_client):
    User.objects.filter(pk=member.pk).update(token_version=3)
    response = obtain(api_client, "MEMBER@example.com")  # email is case-insensitive
    assert response.status_code == 200
    body = response.json()
    assert set(body["data"]) == {"access", "refresh"}
    assert body["meta"]["version"] == "v1"
    access, refresh = _claims(body["data"]["access"]), _claims(body["data"]["refresh"])
    assert access["token_version"] == refresh["token_version"] == 3
    assert access["user_id"] == str(member.pk)
    assert OutstandingToken.objects.filter(jti=refresh["jti"], user=member).exists()
    me = api_client.get("/api/v1/users/me", HTTP_AUTHORIZATION=f"Bearer {body['data']['access']}")
    assert me.status_code == 200
    assert me.json()["data"]["email"] == "member@example.com"


def test_wrong_password_is_401_problem_json(member, api_client):
    response = obtain(api_client, member.email, "wrong-password")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 401
    assert body["code"] == "invalid_credentials"
    assert body["type"] == "/problems/invalid_credentials"
    assert "access" not in response.content.decode()
    assert response["WWW-Authenticate"].startswith("Bearer")
    # unknown email reads exactly the same (no account enumeration)
    unknown = obtain(api_client, "nobody@example.com")
    assert unknown.status_code == 401
    assert unknown.json()["detail"] == body["detail"]


def test_missing_fields_and_extra_fields_are_400(member, api_client):
    response = api_client.post("/api/v1/auth/token", {"email": member.email}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"password": ["This field is required."]}
    extra = api_client.post(
        "/api/v1/auth/token",
        {"email": member.email, "password": PASSWORD, "role": "admin"},
        format="json",
    )
    assert extra.status_code == 400
    assert "role" in extra.json()["errors"]


def test_inactive_user_cannot_obtain(member, api_client):
    User.objects.filter(pk=member.pk).update(is_active=False)
    assert obtain(api_client, member.email).status_code == 401


def test_refresh_rotates_and_blacklists_the_old_token(member):
    client = api_client_for(member)
    old = client.tokens["refresh"]
    response = client.post("/api/v1/auth/token/refresh", {"refresh": old}, format="json")
    assert response.status_code == 200
    new = response.json()["data"]
    assert new["refresh"] != old
    assert _claims(new["refresh"])["token_version"] == 0
    assert BlacklistedToken.objects.filter(token__jti=_claims(old)["jti"]).exists()
    # the new access token authenticates, and the new refresh token works once
    fresh = APIClient()
    fresh.credentials(HTTP_AUTHORIZATION=f"Bearer {new['access']}")
    assert fresh.get("/api/v1/users/me").status_code == 200
    again = client.post("/api/v1/auth/token/refresh", {"refresh": new["refresh"]}, format="json")
    assert again.status_code == 200
    # the old refresh token is dead (a replay revokes the login: test_jwt_security)
    reuse = client.post("/api/v1/auth/token/refresh", {"refresh": old}, format="json")
    assert reuse.status_code == 401
    assert reuse["Content-Type"] == "application/problem+json"


def test_refresh_with_garbage_or_an_access_token_is_401(member):
    client = api_client_for(member)
    garbage = client.post("/api/v1/auth/token/refresh", {"refresh": "not-a-jwt"}, format="json")
    assert garbage.status_code == 401
    wrong_type = client.post(
        "/api/v1/auth/token/refresh", {"refresh": client.tokens["access"]}, format="json"
    )
    assert wrong_type.status_code == 401
    assert wrong_type.json()["code"] == "token_not_valid"


def test_refresh_with_stale_token_version_is_refused(member):
    client = api_client_for(member)
    # Bumped behind the blacklist's back (e.g. a token minted elsewhere): the claim decides.
    User.objects.filter(pk=member.pk).update(token_version=1)
    response = client.post(
        "/api/v1/auth/token/refresh", {"refresh": client.tokens["refresh"]}, format="json"
    )
    assert response.status_code == 401
    assert response.json()["code"] == "token_revoked"
    assert not BlacklistedToken.objects.exists()  # refused before rotating anything


def test_verify_accepts_valid_and_refuses_revoked_tokens(member):
    client = api_client_for(member)
    ok = client.post("/api/v1/auth/token/verify", {"token": client.tokens["access"]}, format="json")
    assert ok.status_code == 200
    assert ok.json()["data"] == {"valid": True}
    ok_refresh = client.post(
        "/api/v1/auth/token/verify", {"token": client.tokens["refresh"]}, format="json"
    )
    assert ok_refresh.status_code == 200
    bad = client.post("/api/v1/auth/token/verify", {"token": "x.y.z"}, format="json")
    assert bad.status_code == 401
    User.objects.filter(pk=member.pk).update(token_version=5)
    stale = client.post(
        "/api/v1/auth/token/verify", {"token": client.tokens["access"]}, format="json"
    )
    assert stale.status_code == 401
    assert stale.json()["code"] == "token_revoked"


def test_logout_all_kills_existing_access_and_refresh_tokens(member):
    first = api_client_for(member)
    second = api_client_for(member)  # another device
    assert second.get("/api/v1/users/me").status_code == 200
    response = first.post("/api/v1/auth/logout-all")
    assert response.status_code == 200
    assert response.json()["data"] == {"refresh_tokens_revoked": 2}
    assert User.objects.get(pk=member.pk).token_version == 1
    for device in (first, second):
        me = device.get("/api/v1/users/me")
        assert me.status_code == 401
        assert me.json()["code"] == "token_revoked"
        refresh = device.post(
            "/api/v1/auth/token/refresh", {"refresh": device.tokens["refresh"]}, format="json"
        )
        assert refresh.status_code == 401
    # logging in again works and yields the new version
    again = login_client_for(member)
    assert _claims(again.tokens["access"])["token_version"] == 1
    assert again.get("/api/v1/users/me").status_code == 200


def test_logout_all_needs_authentication(api_client):
    response = api_client.post("/api/v1/auth/logout-all")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"


def test_deactivated_user_tokens_stop_working(member):
    client = api_client_for(member)
    user_deactivate(user=User.objects.get(pk=member.pk))
    assert client.get("/api/v1/users/me").status_code == 401
    refresh = client.post(
        "/api/v1/auth/token/refresh", {"refresh": client.tokens["refresh"]}, format="json"
    )
    assert refresh.status_code == 401


def test_trailing_slash_is_404_not_redirect(member, api_client):
    response = api_client.post(
        "/api/v1/auth/token/", {"email": member.email, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 404
