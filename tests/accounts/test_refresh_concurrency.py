from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections
from rest_framework.test import APIClient

from accounts.services import user_create
from tests.accounts.conftest import PASSWORD, obtain


@pytest.mark.django_db(transaction=True)
def test_one_refresh_token_rotates_exactly_once_under_concurrency():
    user = user_create(email="race@example.com", password=PASSWORD)
    refresh = obtain(APIClient(), user.email).json()["data"]["refresh"]
    start = threading.Barrier(8)

    def attempt(index: int) -> int:
        try:
            start.wait(timeout=10)
            client = APIClient(REMOTE_ADDR=f"203.0.113.{index + 1}")  # own limiter budget
            response = client.post(
                "/api/v1/auth/token/refresh", {"refresh": refresh}, format="json"
            )
            return response.status_code
        finally:
            for alias in connections:
                connections[alias].close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(attempt, range(8)))
    assert sorted(statuses) == [200] + [401] * 7
