"""Cursor encode/decode (core.cursor) as properties (Hypothesis): any position survives a
round trip, and any change to a cursor is refused or changes nothing."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.cursor import NEXT, PREV, InvalidCursor, cursor_decode, cursor_encode

PROPERTY_SETTINGS = settings(max_examples=100, deadline=None)
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."

# The values a sort key holds: ids, counts, text (titles, slugs), nulls and timestamps.
key_values = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.text(max_size=40),
    st.none(),
    st.datetimes(
        min_value=datetime(1970, 1, 2), max_value=datetime(9998, 12, 31), timezones=st.just(UTC)
    ),
)
positions = st.tuples(
    st.lists(key_values, min_size=1, max_size=4),
    st.sampled_from([NEXT, PREV]),
    st.text(alphabet="0123456789abcdef", min_size=16, max_size=16),
)


@PROPERTY_SETTINGS
@given(position=positions)
def test_any_position_survives_a_round_trip(position):
    values, direction, binding = position
    token = cursor_encode(values=values, direction=direction, binding=binding)
    decoded = cursor_decode(token, binding=binding, key_length=len(values))
    assert decoded.values == tuple(values)
    assert decoded.direction == direction


@PROPERTY_SETTINGS
@given(position=positions, data=st.data())
def test_any_single_character_change_is_refused_or_changes_nothing(position, data):
    values, direction, binding = position
    token = cursor_encode(values=values, direction=direction, binding=binding)
    index = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
    replacement = data.draw(st.sampled_from(ALPHABET).filter(lambda c: c != token[index]))
    tampered = token[:index] + replacement + token[index + 1 :]
    try:
        decoded = cursor_decode(tampered, binding=binding, key_length=len(values))
    except InvalidCursor:
        return
    # Only the unused low bits of a final base64 character can change without changing the
    # bytes; then the position is exactly the original one.
    assert (decoded.values, decoded.direction) == (tuple(values), direction)


@PROPERTY_SETTINGS
@given(position=positions, other=st.text(alphabet="0123456789abcdef", min_size=16, max_size=16))
def test_a_cursor_is_refused_for_any_other_binding(position, other):
    values, direction, binding = position
    token = cursor_encode(values=values, direction=direction, binding=binding)
    if other != binding:
        with pytest.raises(InvalidCursor):
            cursor_decode(token, binding=other)


@PROPERTY_SETTINGS
@given(token=st.text(max_size=600))
def test_any_text_is_a_position_or_an_invalid_cursor_never_an_error(token):
    with contextlib.suppress(InvalidCursor):
        cursor_decode(token, binding="0123456789abcdef")
