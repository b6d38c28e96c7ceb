from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.services import user_create

PASSWORD = "pass-Word-123"


@pytest.fixture
def member(db):
    return user_create(email="member@example.com", password=PASSWORD, name="Member One")


@pytest.fixture
def other_member(db):
    return user_create(email="other@example.com", password=PASSWORD, name="Other Member")


@pytest.fixture
def admin(db):
    return user_create(email="admin@example.com", password=PASSWORD, role="admin")


def obtain(client: APIClient, email: str, password: str = PASSWORD):
    return client.post("/api/v1/auth/token", {"email": email, "password": password}, format="json")


def client_for(user) -> APIClient:
    """An APIClient holding a real access token obtained through the API."""
    client = APIClient()
    response = obtain(client, user.email)
    assert response.status_code == 200, response.content
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['data']['access']}")
    client.tokens = response.json()["data"]
    return client
