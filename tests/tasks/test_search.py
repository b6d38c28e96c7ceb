"""`?search=` on MariaDB FULLTEXT (natural-language mode). Transactional: InnoDB FULLTEXT
indexes only committed rows."""

from __future__ import annotations

import pytest

from tasks.selectors import TaskFilters, task_list_for_user
from tests.factories import UserFactory
from tests.tasks.factories import TaskFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def corpus(user):
    other = UserFactory()
    rows = {
        "invoice": TaskFactory(owner=user, title="Send invoice to ACME", description="net 30"),
        "dentist": TaskFactory(owner=user, title="Call dentist", description="book a cleaning"),
        "garden": TaskFactory(owner=user, title="Water garden", description="tomatoes and basil"),
    }
    TaskFactory(owner=other, title="Other invoice", description="not visible")
    for index in range(40):  # enough rows that the optimizer prefers indexes to scans
        TaskFactory(owner=other if index % 2 else user, title=f"Filler {index}", status="completed")
    return rows


def _ids(client, query: str) -> list[int]:
    response = client.get("/api/v1/tasks", {"search": query})
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["data"]]


def test_search_matches_title_and_description_of_own_tasks(auth_client, corpus):
    assert _ids(auth_client, "invoice") == [corpus["invoice"].pk]
    assert _ids(auth_client, "tomatoes") == [corpus["garden"].pk]
    assert set(_ids(auth_client, "dentist garden")) == {corpus["dentist"].pk, corpus["garden"].pk}
    assert _ids(auth_client, "nothing-like-this") == []


@pytest.mark.parametrize(
    "query",
    [
        "a@b.c",
        '"unterminated',
        "+invoice -dentist",
        "inv*",
        "(garden) ~basil <tomatoes> ",
        '+-*()~<>"@',
        "'; DROP TABLE tasks_task; --",
        "\\",
        "%_%",
        "ünïcödé 水",
        "x" * 200,
    ],
)
def test_operator_and_odd_input_never_500(auth_client, corpus, query):
    response = auth_client.get("/api/v1/tasks", {"search": query})
    assert response.status_code == 200


def test_operators_are_stripped_not_interpreted(auth_client, corpus):
    # In boolean mode "-dentist" would exclude; here both words are plain search words.
    assert set(_ids(auth_client, "+invoice -dentist")) == {
        corpus["invoice"].pk,
        corpus["dentist"].pk,
    }
    assert _ids(auth_client, "a@b.c") == []  # words shorter than the minimum token size


def test_search_longer_than_200_chars_is_400(auth_client, corpus):
    assert auth_client.get("/api/v1/tasks", {"search": "x" * 201}).status_code == 400


def test_explain_uses_fulltext_index_for_search(user, corpus):
    queryset = task_list_for_user(user=user, filters=TaskFilters(search="invoice"))
    plan = queryset.explain()
    assert "task_fulltext_idx" in plan
    assert "fulltext" in plan.lower()


def test_explain_uses_owner_status_index_for_status_filter(user, corpus):
    plan = task_list_for_user(user=user, filters=TaskFilters(status="pending")).explain()
    assert "task_owner_status_idx" in plan
