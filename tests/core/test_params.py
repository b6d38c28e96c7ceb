"""Hostile query values are 400 problems, never a 500 (ValueError from int() or dates)."""

from __future__ import annotations

import pytest

from core.params import is_plain_int

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("raw", ["²", "٣", "1" * 5000, "-1", " 1", "1.0", ""])
def test_is_plain_int_rejects_what_int_would_choke_on_or_misread(raw):
    assert not is_plain_int(raw)


def test_is_plain_int_accepts_ascii_digits():
    assert is_plain_int("0") and is_plain_int("123456789012345678")


@pytest.mark.parametrize(
    "query",
    [
        "limit=%C2%B2",
        "limit=" + "9" * 5000,
        "author=%C2%B2",
        "published_after=2026-02-30T00:00:00",
        "published_before=2026-01-01T00:00:00%2B99:00",
        "ordering=nope",
    ],
)
def test_v2_posts_bad_values_are_400(api_client, query):
    response = api_client.get(f"/api/v2/posts?{query}")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "invalid"


@pytest.mark.parametrize(
    "query", ["page=%C2%B2", "page=" + "9" * 5000, "page_size=%C2%B2", "page_size=0"]
)
def test_page_number_lists_reject_bad_values_with_400(admin_client, query):
    response = admin_client.get(f"/api/v1/users?{query}")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
