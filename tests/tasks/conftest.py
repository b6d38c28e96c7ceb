from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core import mail

from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def _empty_outbox() -> Iterator[None]:
    mail.outbox = []
    yield


@pytest.fixture
def other_user(db):
    return UserFactory()
