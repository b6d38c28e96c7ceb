"""Coalescing in the outbox (syncqueue.services.capture) as properties (Hypothesis): whatever
order a user's states reach the outbox in, the one unsent row ends as the newest state."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncqueue.models import OutboxRecord, OutboxStatus
from syncqueue.services.capture import outbox_write, outbox_write_many
from tests.factories import UserFactory

PROPERTY_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@st.composite
def shuffled_states(draw) -> list[tuple[int, dict]]:
    """Distinct versions of one user's state, each with its own attributes, in any order."""
    versions = draw(st.lists(st.integers(1, 10_000), min_size=1, max_size=8, unique=True))
    states = [
        (version, {"name": f"name-{version}", "plan": f"p{version % 3}"}) for version in versions
    ]
    return draw(st.permutations(states))


def _unsent(user_id: int) -> list[OutboxRecord]:
    return list(OutboxRecord.objects.filter(user_id=user_id, status=OutboxStatus.UNSENT))


@pytest.fixture
def user(db, settings):
    settings.SYNC_COALESCE = True
    return UserFactory()


@PROPERTY_SETTINGS
@given(states=shuffled_states())
def test_one_row_by_one_the_newest_version_and_its_attributes_win(user, states):
    OutboxRecord.objects.filter(user_id=user.pk).delete()
    for version, attributes in states:
        outbox_write(user_id=user.pk, version=version, attributes=attributes)
    (row,) = _unsent(user.pk)
    newest, newest_attributes = max(states)
    assert row.version == newest
    assert row.payload == {"user_id": user.pk, "attributes": newest_attributes}


@PROPERTY_SETTINGS
@given(states=shuffled_states())
def test_in_one_bulk_statement_the_newest_version_and_its_attributes_win(user, states):
    OutboxRecord.objects.filter(user_id=user.pk).delete()
    outbox_write_many(states=[(user.pk, version, attributes) for version, attributes in states])
    (row,) = _unsent(user.pk)
    newest, newest_attributes = max(states)
    assert row.version == newest
    assert row.payload == {"user_id": user.pk, "attributes": newest_attributes}
