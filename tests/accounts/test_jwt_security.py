"""JWT handling as a security spec: each test is one rule an attacker would try to break.

Tokens are HS256 only (the algorithm is pinned, never read from the header), expire, carry the
user's token_version and their login's family id, and refresh tokens are single use with
reuse detection (a replay revokes the whole login).
"""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import TokenFamily, User
from tests.accounts.conftest import PASSWORD, login_client_for
from tests.factories import api_client_for

pytestmark = pytest.mark.django_db

ME = "/api/v1/users/me"
REFRESH = "/api/v1/auth/token/refresh"
VERIFY = "/api/v1/auth/token/verify"


def _b64(data: dict | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _claims(token: str) -> dict:
    return jwt.decode(token, settings.JWT_SIGNING_KEY, algorithms=["HS256"])


def _unverified(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _me(token: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get(ME).status_code


def _refresh(raw: str):
    return APIClient().post(REFRESH, {"refresh": raw}, format="json")


def _verify(raw: str) -> int:
    return APIClient().post(VERIFY, {"token": raw}, format="json").status_code


def _assert_refused_everywhere(token: str, *, refresh: bool = False) -> None:
    """The token opens nothing: not the API, not verify, and (refresh tokens) not rotation."""
    assert _me(token) == 401
    assert _verify(token) == 401
    if refresh:
        response = _refresh(token)
        assert response.status_code == 401
        assert response["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_unsigned_token_with_alg_none_is_refused(member, alg):
    genuine = api_client_for(member).tokens
    for kind in ("access", "refresh"):
        claims = _unverified(genuine[kind])
        forged = f"{_b64({'alg': alg, 'typ': 'JWT'})}.{_b64(claims)}."
        _assert_refused_everywhere(forged, refresh=kind == "refresh")


def test_tampered_signature_is_refused(member):
    genuine = api_client_for(member).tokens["access"]
    header, payload, signature = genuine.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    _assert_refused_everywhere(f"{header}.{payload}.{flipped}")


def test_tampered_claims_with_the_old_signature_are_refused(member, admin):
    genuine = api_client_for(member).tokens["access"]
    header, _, signature = genuine.split(".")
    claims = {**_unverified(genuine), "user_id": str(admin.pk)}  # become the admin
    _assert_refused_everywhere(f"{header}.{_b64(claims)}.{signature}")


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_token_signed_with_the_right_key_but_another_algorithm_is_refused(member, alg):
    # The algorithm comes from settings, never from the header: no algorithm confusion.
    claims = _unverified(api_client_for(member).tokens["access"])
    switched = jwt.encode(claims, settings.JWT_SIGNING_KEY, algorithm=alg)
    _assert_refused_everywhere(switched)


def test_token_signed_with_another_key_is_refused(member):
    claims = _unverified(api_client_for(member).tokens["access"])
    _assert_refused_everywhere(jwt.encode(claims, "another-key-" + "x" * 40, algorithm="HS256"))


def test_expired_access_and_refresh_tokens_are_refused(member):
    tokens = api_client_for(member).tokens
    past = int(time.time()) - 60
    for kind in ("access", "refresh"):
        claims = {**_claims(tokens[kind]), "exp": past, "iat": past - 900}
        expired = jwt.encode(claims, settings.JWT_SIGNING_KEY, algorithm="HS256")
        _assert_refused_everywhere(expired, refresh=kind == "refresh")


def test_access_token_is_not_a_refresh_token(member):
    tokens = api_client_for(member).tokens
    response = _refresh(tokens["access"])
    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


def test_replayed_refresh_token_revokes_the_whole_login(member):
    victim = api_client_for(member)
    other_device = api_client_for(member)  # another login of the same user
    stolen = victim.tokens["refresh"]
    # The thief rotates first and now holds a fresh pair of the same family.
    thief = _refresh(stolen).json()["data"]
    assert _claims(thief["refresh"])["fam"] == _claims(stolen)["fam"]
    assert _me(thief["access"]) == 200
    # The victim's client presents the already-rotated token: reuse is detected.
    replay = _refresh(stolen)
    assert replay.status_code == 401
    assert replay.json()["code"] == "token_reused"
    # Every token descended from that login is dead, the thief's included.
    _assert_refused_everywhere(thief["refresh"], refresh=True)
    _assert_refused_everywhere(thief["access"])
    _assert_refused_everywhere(victim.tokens["access"])
    family = TokenFamily.objects.get(pk=_claims(stolen)["fam"])
    assert family.revoked_at is not None
    # Another login is a different family and keeps working; so does logging in again.
    assert other_device.get(ME).status_code == 200
    assert _refresh(other_device.tokens["refresh"]).status_code == 200
    assert api_client_for(member).get(ME).status_code == 200


def test_rotation_keeps_the_family_and_a_chain_of_rotations_works(member):
    tokens = api_client_for(member).tokens
    family = _claims(tokens["refresh"])["fam"]
    for _ in range(3):
        response = _refresh(tokens["refresh"])
        assert response.status_code == 200
        tokens = response.json()["data"]
        assert _claims(tokens["refresh"])["fam"] == _claims(tokens["access"])["fam"] == family
    assert _me(tokens["access"]) == 200


def test_a_token_claiming_another_users_family_is_refused(member, other_member):
    foreign = _claims(api_client_for(other_member).tokens["access"])["fam"]
    claims = {**_claims(api_client_for(member).tokens["access"]), "fam": foreign}
    _assert_refused_everywhere(jwt.encode(claims, settings.JWT_SIGNING_KEY, algorithm="HS256"))


def test_logout_all_kills_every_token_of_every_login(member):
    first, second = api_client_for(member), api_client_for(member)
    assert first.post("/api/v1/auth/logout-all").status_code == 200
    for device in (first, second):
        _assert_refused_everywhere(device.tokens["access"])
        _assert_refused_everywhere(device.tokens["refresh"], refresh=True)


def test_password_change_kills_every_old_token(member):
    old = api_client_for(member).tokens
    user = User.objects.get(pk=member.pk)
    user.set_password("Brand-new-pass-456")
    user.save()
    _assert_refused_everywhere(old["access"])
    _assert_refused_everywhere(old["refresh"], refresh=True)
    login = APIClient().post(
        "/api/v1/auth/token",
        {"email": member.email, "password": "Brand-new-pass-456"},
        format="json",
    )
    assert login.status_code == 200
    assert _me(login.json()["data"]["access"]) == 200


def test_password_change_in_the_admin_kills_the_admins_old_tokens(admin):
    old = api_client_for(admin).tokens
    browser = Client()
    browser.force_login(admin)
    response = browser.post(
        "/admin/password_change/",
        {
            "old_password": PASSWORD,
            "new_password1": "Brand-new-pass-456",
            "new_password2": "Brand-new-pass-456",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    _assert_refused_everywhere(old["access"])
    _assert_refused_everywhere(old["refresh"], refresh=True)


def test_a_rehash_on_login_revokes_nothing(member, settings):
    tokens = api_client_for(member).tokens
    # A new preferred hasher: Django upgrades the stored hash on the next login.
    settings.PASSWORD_HASHERS = [
        "tests.accounts.hashers.UpgradedMD5PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    login_client_for(member)
    assert User.objects.get(pk=member.pk).password.startswith("md5-upgraded$")
    assert _me(tokens["access"]) == 200
