from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.factories import UserFactory, access_token_for


@pytest.fixture
def editor(db):
    return UserFactory(role="editor")


@pytest.fixture
def editor_client(editor):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(editor)}")
    client.user = editor
    return client
