"""Changing one's own credentials (email, password) needs the current password, for every
role, in the API and in the admin."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from tests.accounts.conftest import PASSWORD
from tests.factories import api_client_for

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", ["admin", "editor", "member"])
def test_own_email_change_needs_the_current_password_for_every_role(role):
    from accounts.services import user_create

    user = user_create(email=f"{role}-self@example.com", password=PASSWORD, role=role)
    client = api_client_for(user)
    missing = client.patch("/api/v1/users/me", {"email": "new@example.com"}, format="json")
    assert missing.status_code == 400
    assert list(missing.json()["errors"]) == ["current_password"]
    by_id = client.patch(f"/api/v1/users/{user.pk}", {"email": "new@example.com"}, format="json")
    assert by_id.status_code == 400
    wrong = client.patch(
        "/api/v1/users/me", {"email": "new@example.com", "current_password": "x"}, format="json"
    )
    assert wrong.status_code == 400
    assert User.objects.get(pk=user.pk).email == f"{role}-self@example.com"
    ok = client.patch(
        "/api/v1/users/me",
        {"email": "new@example.com", "current_password": PASSWORD},
        format="json",
    )
    assert ok.status_code == 200
    assert User.objects.get(pk=user.pk).email == "new@example.com"


def test_admin_changes_another_users_email_without_their_password(admin, member):
    client = api_client_for(admin)
    response = client.patch(
        f"/api/v1/users/{member.pk}", {"email": "moved@example.com"}, format="json"
    )
    assert response.status_code == 200
    assert User.objects.get(pk=member.pk).email == "moved@example.com"


def test_unchanged_email_needs_no_password(admin):
    client = api_client_for(admin)
    response = client.patch(
        "/api/v1/users/me", {"email": "ADMIN@example.com", "name": "A"}, format="json"
    )
    assert response.status_code == 200


def _own_change_form(admin: User, **overrides: str) -> dict:
    return {
        "email": admin.email,
        "name": admin.name,
        "plan": "free",
        "role": "admin",
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        **overrides,
    }


def test_admin_ui_own_email_change_needs_the_current_password(admin):
    browser = Client()
    browser.force_login(admin)
    path = f"/admin/accounts/user/{admin.pk}/change/"
    assert b"current_password" in browser.get(path).content
    refused = browser.post(path, _own_change_form(admin, email="hijack@example.com"))
    assert refused.status_code == 200  # the form again, with the error
    assert b"Enter your current password" in refused.content
    assert User.objects.get(pk=admin.pk).email == "admin@example.com"
    wrong = browser.post(
        path, _own_change_form(admin, email="hijack@example.com", current_password="nope")
    )
    assert wrong.status_code == 200
    assert User.objects.get(pk=admin.pk).email == "admin@example.com"
    ok = browser.post(
        path, _own_change_form(admin, email="new-admin@example.com", current_password=PASSWORD)
    )
    assert ok.status_code == 302, ok.content[:2000]
    assert User.objects.get(pk=admin.pk).email == "new-admin@example.com"


def test_admin_ui_edits_another_users_email_without_a_password(admin, member):
    browser = Client()
    browser.force_login(admin)
    path = f"/admin/accounts/user/{member.pk}/change/"
    assert b"current_password" not in browser.get(path).content
    form = _own_change_form(member, email="moved@example.com", role="member")
    assert browser.post(path, form).status_code == 302
    assert User.objects.get(pk=member.pk).email == "moved@example.com"


def test_admin_ui_own_password_goes_through_the_page_that_asks_for_the_old_one(admin, member):
    browser = Client()
    browser.force_login(admin)
    own = browser.post(
        f"/admin/accounts/user/{admin.pk}/password/",
        {"password1": "Brand-new-pass-456", "password2": "Brand-new-pass-456"},
    )
    assert own.status_code == 302 and own["Location"] == "/admin/password_change/"
    assert User.objects.get(pk=admin.pk).check_password(PASSWORD)
    # Another user's password is still set here (an admin's job), and revokes their tokens.
    tokens = api_client_for(member).tokens
    other = browser.post(
        f"/admin/accounts/user/{member.pk}/password/",
        {
            "usable_password": "true",
            "password1": "Brand-new-pass-456",
            "password2": "Brand-new-pass-456",
        },
    )
    assert other.status_code == 302, other.content[:2000]
    assert User.objects.get(pk=member.pk).check_password("Brand-new-pass-456")
    from rest_framework.test import APIClient

    stale = APIClient()
    stale.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert stale.get("/api/v1/users/me").status_code == 401
