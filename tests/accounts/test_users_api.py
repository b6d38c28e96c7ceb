from __future__ import annotations

import pytest

from accounts.models import User
from tests.accounts.conftest import PASSWORD
from tests.factories import api_client_for

PROTECTED = ("role", "is_staff", "is_superuser", "token_version", "sync_version", "is_active")


def _row(user: User) -> dict:
    return User.objects.filter(pk=user.pk).values().get()


def test_admin_lists_users_with_page_meta(admin, member, other_member):
    client = api_client_for(admin)
    response = client.get("/api/v1/users?page_size=2")
    assert response.status_code == 200
    body = response.json()
    assert [u["email"] for u in body["data"]] == [admin.email, member.email]
    assert body["meta"]["pagination"] == {"page": 1, "page_size": 2, "total": 3, "total_pages": 2}
    assert "password" not in body["data"][0]
    assert "token_version" not in body["data"][0]
    second = client.get("/api/v1/users?page=2&page_size=2").json()
    assert [u["email"] for u in second["data"]] == [other_member.email]


def test_admin_list_filters(admin, member, other_member):
    client = api_client_for(admin)
    admins = client.get("/api/v1/users?role=admin").json()["data"]
    assert [u["id"] for u in admins] == [admin.pk]
    found = client.get("/api/v1/users?search=other").json()["data"]
    assert [u["id"] for u in found] == [other_member.pk]
    assert client.get("/api/v1/users?role=king").status_code == 400
    assert client.get("/api/v1/users?page_size=101").status_code == 400


def test_member_cannot_list_or_create(member):
    client = api_client_for(member)
    listing = client.get("/api/v1/users")
    assert listing.status_code == 403
    assert listing["Content-Type"] == "application/problem+json"
    created = client.post(
        "/api/v1/users", {"email": "x@example.com", "password": "Very-long-pass-42"}, format="json"
    )
    assert created.status_code == 403
    assert not User.objects.filter(email="x@example.com").exists()


def test_anonymous_is_401(api_client, member):
    assert api_client.get("/api/v1/users/me").status_code == 401
    assert api_client.get(f"/api/v1/users/{member.pk}").status_code == 401


def test_admin_creates_user_with_hashed_password_and_role_group(admin):
    client = api_client_for(admin)
    response = client.post(
        "/api/v1/users",
        {"email": "New@Example.com", "password": "Very-long-pass-42", "role": "editor"},
        format="json",
    )
    assert response.status_code == 201
    data = response.json()["data"]
    assert data["email"] == "new@example.com"
    assert data["role"] == "editor"
    assert data["is_staff"] is False
    user = User.objects.get(pk=data["id"])
    assert user.password != "Very-long-pass-42"
    assert user.check_password("Very-long-pass-42")
    assert list(user.groups.values_list("name", flat=True)) == ["editor"]
    duplicate = client.post(
        "/api/v1/users",
        {"email": "new@example.com", "password": "Very-long-pass-42"},
        format="json",
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "email_taken"
    weak = client.post(
        "/api/v1/users", {"email": "w@example.com", "password": "123"}, format="json"
    )
    assert weak.status_code == 400
    assert "password" in weak.json()["errors"]


def test_admin_create_rejects_protected_fields(admin):
    client = api_client_for(admin)
    response = client.post(
        "/api/v1/users",
        {
            "email": "p@example.com",
            "password": "Very-long-pass-42",
            "is_superuser": True,
            "token_version": 9,
        },
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"is_superuser", "token_version"}
    assert not User.objects.filter(email="p@example.com").exists()


def test_member_reads_and_updates_self(member):
    client = api_client_for(member)
    assert client.get("/api/v1/users/me").json()["data"]["id"] == member.pk
    assert client.get(f"/api/v1/users/{member.pk}").json()["data"]["email"] == member.email
    response = client.patch(
        "/api/v1/users/me",
        {"name": "New Name", "timezone": "Europe/Berlin", "marketing_opt_in": True},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["data"]["name"] == "New Name"
    row = _row(member)
    assert (row["name"], row["timezone"], row["marketing_opt_in"]) == (
        "New Name",
        "Europe/Berlin",
        True,
    )
    bad = client.patch("/api/v1/users/me", {"timezone": "Mars/Olympus"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["errors"] == {"timezone": ["Unknown IANA time zone."]}


@pytest.mark.parametrize(
    "payload",
    [
        {"role": "admin"},
        {"is_staff": True},
        {"is_superuser": True},
        {"token_version": 0},
        {"sync_version": 999},
        {"is_active": False},
        {"plan": "enterprise"},
        {"id": 1},
        {"password": "Another-pass-99"},
        {"name": "ok", "role": "admin"},
    ],
)
def test_member_mass_assignment_is_400_and_changes_nothing(member, payload):
    client = api_client_for(member)
    before = _row(member)
    response = client.patch("/api/v1/users/me", payload, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert set(response.json()["errors"]) == set(payload) - {"name"}
    assert _row(member) == before
    assert client.put(f"/api/v1/users/{member.pk}", payload, format="json").status_code == 400
    assert _row(member) == before


def test_member_cannot_touch_another_user_idor_is_404(member, other_member):
    client = api_client_for(member)
    before = _row(other_member)
    path = f"/api/v1/users/{other_member.pk}"
    get = client.get(path)
    assert get.status_code == 404
    assert get["Content-Type"] == "application/problem+json"
    # an id that doesn't exist reads the same: nothing to learn
    assert client.get("/api/v1/users/999999").json() == get.json()
    for payload in ({"email": "stolen@example.com"}, {"name": "pwned"}, {"role": "admin"}):
        assert client.patch(path, payload, format="json").status_code == 404
    assert client.delete(path).status_code == 404
    assert _row(other_member) == before


def test_member_email_change_needs_current_password(member):
    client = api_client_for(member)
    missing = client.patch("/api/v1/users/me", {"email": "m2@example.com"}, format="json")
    assert missing.status_code == 400
    assert "current_password" in missing.json()["errors"]
    wrong = client.patch(
        "/api/v1/users/me",
        {"email": "m2@example.com", "current_password": "nope"},
        format="json",
    )
    assert wrong.status_code == 400
    assert _row(member)["email"] == "member@example.com"
    ok = client.patch(
        "/api/v1/users/me",
        {"email": "M2@example.com", "current_password": PASSWORD},
        format="json",
    )
    assert ok.status_code == 200
    assert _row(member)["email"] == "m2@example.com"


def test_email_taken_is_409(member, other_member):
    client = api_client_for(member)
    response = client.patch(
        "/api/v1/users/me",
        {"email": "OTHER@example.com", "current_password": PASSWORD},
        format="json",
    )
    assert response.status_code == 409
    assert _row(member)["email"] == "member@example.com"


def test_admin_changes_role_and_plan_of_another_user(admin, member):
    client = api_client_for(admin)
    response = client.patch(
        f"/api/v1/users/{member.pk}", {"role": "admin", "plan": "pro"}, format="json"
    )
    assert response.status_code == 200
    row = _row(member)
    assert (row["role"], row["is_staff"], row["plan"]) == ("admin", True, "pro")
    assert list(User.objects.get(pk=member.pk).groups.values_list("name", flat=True)) == ["admin"]
    # admins still cannot write counters or superuser through the API
    refused = client.patch(
        f"/api/v1/users/{member.pk}", {"token_version": 0, "is_superuser": True}, format="json"
    )
    assert refused.status_code == 400
    assert _row(member)["is_superuser"] is False


def test_last_admin_cannot_demote_or_delete_self(admin):
    client = api_client_for(admin)
    demote = client.patch("/api/v1/users/me", {"role": "member"}, format="json")
    assert demote.status_code == 409
    assert demote.json()["code"] == "last_admin"
    assert client.delete("/api/v1/users/me").status_code == 409
    row = _row(admin)
    assert (row["role"], row["is_active"]) == ("admin", True)


def test_admin_delete_deactivates_and_revokes(admin, member):
    member_client = api_client_for(member)
    admin_client = api_client_for(admin)
    response = admin_client.delete(f"/api/v1/users/{member.pk}")
    assert response.status_code == 204
    assert response.content == b""
    row = _row(member)
    assert row["is_active"] is False
    assert row["token_version"] == 1
    assert User.objects.filter(pk=member.pk).exists()  # deactivated, not deleted
    assert member_client.get("/api/v1/users/me").status_code == 401
    # idempotent
    assert admin_client.delete(f"/api/v1/users/{member.pk}").status_code == 204


def test_member_can_deactivate_self(member):
    client = api_client_for(member)
    assert client.delete("/api/v1/users/me").status_code == 204
    assert _row(member)["is_active"] is False
    assert client.get("/api/v1/users/me").status_code == 401


def test_user_list_query_count_is_flat(admin, django_assert_max_num_queries):
    for index in range(30):
        User.objects.create_user(email=f"bulk{index}@example.com")
    client = api_client_for(admin)
    # auth (user) + count + page; no per-row queries
    with django_assert_max_num_queries(4):
        response = client.get("/api/v1/users?page_size=25")
    assert len(response.json()["data"]) == 25
