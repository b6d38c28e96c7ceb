from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from django.db.models import Q
from django.test import override_settings
from django.utils import timezone

from accounts.models import User
from core.cursor import (
    NEXT,
    InvalidCursor,
    KeysetSpec,
    cursor_binding,
    cursor_decode,
    cursor_encode,
    cursor_meta,
    keyset_page,
    parse_limit,
)
from core.errors import DomainError
from tests.factories import UserFactory

SPEC = KeysetSpec(ordering=(("date_joined", True), ("id", True)))
BINDING = cursor_binding(resource="users.test", ordering="-date_joined", filters={"role": "member"})


def test_round_trip_keeps_values_and_direction():
    moment = timezone.now()
    token = cursor_encode(values=(moment, 42), direction=NEXT, binding=BINDING)
    position = cursor_decode(token, binding=BINDING, key_length=2)
    assert position.values == (moment, 42)
    assert position.direction == NEXT
    assert "42" not in token.split(".")[1]  # the signature half carries no data


def test_binding_depends_on_resource_ordering_and_filters_but_not_their_order():
    same = cursor_binding(
        resource="users.test", ordering="-date_joined", filters={"role": "member"}
    )
    assert same == BINDING
    a = cursor_binding(resource="r", ordering="x", filters={"a": 1, "b": 2})
    b = cursor_binding(resource="r", ordering="x", filters={"b": 2, "a": 1})
    assert a == b
    assert cursor_binding(resource="r", ordering="-x", filters={"a": 1, "b": 2}) != a
    assert cursor_binding(resource="r", ordering="x", filters={"a": 1, "b": 3}) != a
    assert cursor_binding(resource="other", ordering="x", filters={"a": 1, "b": 2}) != a


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-3],  # truncated signature
        lambda t: t[: len(t) // 2],  # truncated body
        lambda t: ("A" if t[0] != "A" else "B") + t[1:],  # one byte of the body changed
        lambda t: t.replace(".", ""),  # no separator
        lambda t: t + ".x",  # extra part
        lambda t: "",
        lambda t: "!!!." + t.split(".")[1],  # not base64
        lambda t: "x" * 600,  # too long
    ],
)
def test_tampered_or_truncated_cursor_is_rejected(mangle):
    token = cursor_encode(values=(timezone.now(), 7), direction=NEXT, binding=BINDING)
    with pytest.raises(InvalidCursor) as caught:
        cursor_decode(mangle(token), binding=BINDING)
    assert caught.value.status_code == 400
    assert caught.value.code == "invalid_cursor"


def test_forged_payload_with_old_signature_is_rejected():
    token = cursor_encode(values=(timezone.now(), 7), direction=NEXT, binding=BINDING)
    body, signature = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["k"][1] = 1
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidCursor):
        cursor_decode(f"{forged}.{signature}", binding=BINDING)


def test_cursor_signed_with_another_key_is_foreign():
    with override_settings(CURSOR_SIGNING_KEY="some-other-deployment"):
        foreign = cursor_encode(values=(timezone.now(), 7), direction=NEXT, binding=BINDING)
    with pytest.raises(InvalidCursor, match="signature"):
        cursor_decode(foreign, binding=BINDING)


def test_cursor_reused_with_other_filters_is_rejected():
    token = cursor_encode(values=(timezone.now(), 7), direction=NEXT, binding=BINDING)
    other = cursor_binding(
        resource="users.test", ordering="-date_joined", filters={"role": "admin"}
    )
    with pytest.raises(InvalidCursor, match="other filters"):
        cursor_decode(token, binding=other)


def test_wrong_key_length_is_rejected():
    token = cursor_encode(values=(1, 2, 3), direction=NEXT, binding=BINDING)
    with pytest.raises(InvalidCursor):
        cursor_decode(token, binding=BINDING, key_length=2)


def test_seek_expands_to_lexicographic_comparison():
    condition = SPEC.seek((1, 2))
    assert str(condition) == str(Q(date_joined__lt=1) | Q(date_joined=1, id__lt=2))
    assert str(SPEC.seek((1, 2), reverse=True)) == str(
        Q(date_joined__gt=1) | Q(date_joined=1, id__gt=2)
    )


@pytest.mark.django_db
def test_keyset_pages_walk_forward_and_back_without_overlap():
    base = timezone.now()
    # Ties on date_joined: the id breaks them.
    users = [UserFactory(date_joined=base - timedelta(minutes=i // 2)) for i in range(11)]
    expected = [u.pk for u in sorted(users, key=lambda u: (u.date_joined, u.pk), reverse=True)]
    queryset = User.objects.all()

    seen: list[int] = []
    pages = []
    position = None
    while True:
        page = keyset_page(queryset, spec=SPEC, position=position, limit=4)
        pages.append(page)
        seen.extend(u.pk for u in page.rows)
        cursors = page.cursors(binding=BINDING)
        if cursors["next"] is None:
            break
        position = cursor_decode(cursors["next"], binding=BINDING)
    assert seen == expected
    assert [len(p.rows) for p in pages] == [4, 4, 3]
    assert pages[0].cursors(binding=BINDING)["prev"] is None

    last_prev = pages[-1].cursors(binding=BINDING)["prev"]
    back = keyset_page(
        queryset, spec=SPEC, position=cursor_decode(last_prev, binding=BINDING), limit=4
    )
    assert [u.pk for u in back.rows] == expected[4:8]
    assert back.has_prev and back.has_next
    meta = cursor_meta(page=back, binding=BINDING, limit=4)
    assert set(meta) == {"cursor", "limit"} and meta["limit"] == 4
    first = keyset_page(
        queryset,
        spec=SPEC,
        position=cursor_decode(meta["cursor"]["prev"], binding=BINDING),
        limit=4,
    )
    assert [u.pk for u in first.rows] == expected[:4]
    assert first.has_prev is False


@pytest.mark.django_db
def test_keyset_page_is_one_query_without_offset(django_assert_num_queries):
    UserFactory.create_batch(5)
    position = cursor_decode(
        cursor_encode(values=(timezone.now(), 10**9), direction=NEXT, binding=BINDING),
        binding=BINDING,
    )
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured, django_assert_num_queries(1):
        page = keyset_page(User.objects.all(), spec=SPEC, position=position, limit=2)
    assert len(page.rows) == 2
    assert "OFFSET" not in captured.captured_queries[0]["sql"].upper()


@pytest.mark.parametrize("raw", ["0", "101", "-1", "abc", "1.5"])
def test_limit_out_of_range_is_rejected(raw):
    with pytest.raises(DomainError) as caught:
        parse_limit(raw, default=20, maximum=100)
    assert "limit" in caught.value.errors


def test_limit_defaults_and_accepts_bounds():
    assert parse_limit(None, default=20, maximum=100) == 20
    assert parse_limit("1", default=20, maximum=100) == 1
    assert parse_limit("100", default=20, maximum=100) == 100
