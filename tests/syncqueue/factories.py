from __future__ import annotations

from tests.factories import UserFactory


def make_users(count: int, **fields) -> list:
    return [UserFactory(**fields) for _ in range(count)]
