from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from accounts.services import user_create


@pytest.fixture
def superuser_client(db):
    root = User.objects.create_superuser(email="root@example.com", password="Root-pass-123")
    client = Client()
    client.force_login(root)
    return client


def test_changelist_search_and_filters_load(superuser_client, member, other_member):
    page = superuser_client.get("/admin/accounts/user/")
    assert page.status_code == 200
    assert b"member@example.com" in page.content
    search = superuser_client.get("/admin/accounts/user/", {"q": "other@"})
    assert search.status_code == 200
    assert b"other@example.com" in search.content
    assert b"member@example.com" not in search.content
    filtered = superuser_client.get("/admin/accounts/user/", {"role__exact": "admin"})
    assert filtered.status_code == 200
    assert b"root@example.com" in filtered.content
    assert b"member@example.com" not in filtered.content
    change = superuser_client.get(f"/admin/accounts/user/{member.pk}/change/")
    assert change.status_code == 200
    assert b"token_version" in change.content or b"Token version" in change.content


def test_token_admins_load(superuser_client, member):
    from accounts.tokens import refresh_token_for

    refresh_token_for(member)
    for path in (
        "/admin/token_blacklist/outstandingtoken/",
        "/admin/token_blacklist/blacklistedtoken/",
    ):
        assert superuser_client.get(path).status_code == 200


def test_add_form_hashes_the_password_and_joins_role_group(superuser_client):
    response = superuser_client.post(
        "/admin/accounts/user/add/",
        {
            "email": "Added@Example.com",
            "name": "Added",
            "role": "editor",
            "usable_password": "true",
            "password1": "Added-pass-123",
            "password2": "Added-pass-123",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    user = User.objects.get(email="added@example.com")
    assert user.password.startswith("md5$") or "$" in user.password
    assert user.password != "Added-pass-123"
    assert user.check_password("Added-pass-123")
    assert list(user.groups.values_list("name", flat=True)) == ["editor"]


def test_change_form_role_change_syncs_groups(superuser_client, member):
    response = superuser_client.post(
        f"/admin/accounts/user/{member.pk}/change/",
        {
            "email": member.email,
            "name": member.name,
            "timezone": "",
            "locale": "",
            "phone": "",
            "plan": "free",
            "role": "admin",
            "is_active": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content[:3000]
    row = User.objects.get(pk=member.pk)
    assert (row.role, row.is_staff) == ("admin", True)
    assert list(row.groups.values_list("name", flat=True)) == ["admin"]


def test_non_superuser_admin_can_use_admin_but_not_grant_superuser(member):
    staff = user_create(email="staff@example.com", password="Staff-pass-123", role="admin")
    client = Client()
    client.force_login(staff)
    assert client.get("/admin/accounts/user/").status_code == 200
    client.post(
        f"/admin/accounts/user/{member.pk}/change/",
        {
            "email": member.email,
            "name": member.name,
            "plan": "free",
            "role": "member",
            "is_active": "on",
            "is_superuser": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    assert User.objects.get(pk=member.pk).is_superuser is False


def test_deactivate_action_revokes(superuser_client, member):
    response = superuser_client.post(
        "/admin/accounts/user/",
        {"action": "deactivate_users", "_selected_action": [member.pk]},
    )
    assert response.status_code == 302
    row = User.objects.get(pk=member.pk)
    assert (row.is_active, row.token_version) == (False, 1)
