from __future__ import annotations

from rest_framework.test import APIClient

# The personas' password (tests.factories.UserFactory), for logging in through the API.
PASSWORD = "pass-Word-123"


def obtain(client: APIClient, email: str, password: str = PASSWORD):
    return client.post("/api/v1/auth/token", {"email": email, "password": password}, format="json")


def login_client_for(user, password: str = PASSWORD) -> APIClient:
    """An API client holding the pair POST /auth/token answers for `user` (a real login)."""
    from tests.factories import api_client_for

    response = obtain(APIClient(), user.email, password)
    assert response.status_code == 200, response.content
    return api_client_for(user, tokens=response.json()["data"])
