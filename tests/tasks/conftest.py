from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core import mail

from tests.factories import UserFactory, access_token_for


@pytest.fixture(autouse=True)
def _empty_outbox() -> Iterator[None]:
    mail.outbox = []
    yield


@pytest.fixture
def other_user(db):
    return UserFactory()


@pytest.fixture
def client_for():
    """An authenticated APIClient for any user."""
    from rest_framework.test import APIClient

    def make(user):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(user)}")
        client.user = user
        return client

    return make
