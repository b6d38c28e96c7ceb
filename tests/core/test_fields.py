from __future__ import annotations

import pytest

from core.errors import DomainError
from core.fields import (
    MAX_INCLUDES,
    FieldPolicy,
    InvalidFields,
    InvalidInclude,
    RelationPolicy,
    reject_unknown_parameters,
    selection_parse,
)

POLICY = FieldPolicy(
    fields=("id", "title", "body", "owner_id", "label_ids"),
    relations={
        "owner": RelationPolicy(fields=("id", "name"), id_field="owner_id"),
        "labels": RelationPolicy(fields=("id", "slug"), id_field="label_ids"),
    },
)


def parse(fields=None, include=None):
    return selection_parse(fields_param=fields, include_param=include, policy=POLICY)


def test_defaults_are_all_public_fields_with_ids_for_relations():
    selection = parse()
    assert selection.fields == ("id", "title", "body", "owner_id", "label_ids")
    assert selection.includes == {}


def test_fields_keep_exactly_the_requested_order():
    assert parse("title,id").fields == ("title", "id")


def test_include_replaces_the_id_field_with_the_object():
    selection = parse(include="owner")
    assert selection.fields == ("id", "title", "body", "owner", "label_ids")
    assert selection.includes == {"owner": ("id", "name")}


def test_include_with_explicit_fields_is_appended():
    selection = parse("id", include="labels")
    assert selection.fields == ("id", "labels")
    assert selection.includes == {"labels": ("id", "slug")}


def test_dotted_field_selects_sub_fields_and_implies_the_include():
    selection = parse("id,owner.name")
    assert selection.fields == ("id", "owner")
    assert selection.includes == {"owner": ("name",)}


def test_relation_name_in_fields_includes_it_whole():
    selection = parse("id,owner,owner.name")
    assert selection.includes == {"owner": ("id", "name")}


@pytest.mark.parametrize("fields", ["id,secret", "owner.email", "owner.name.first", "nope.id"])
def test_unknown_or_hidden_fields_are_rejected_listing_the_allowed(fields):
    with pytest.raises(InvalidFields) as caught:
        parse(fields)
    assert caught.value.status_code == 400
    allowed = caught.value.errors["fields"][0]
    assert "title" in allowed and "owner.name" in allowed
    assert "secret" not in allowed and "email" not in allowed


def test_empty_fields_is_rejected():
    with pytest.raises(InvalidFields):
        parse(" , ")


@pytest.mark.parametrize("include", ["posts", "owner.posts"])
def test_unknown_or_too_deep_include_is_rejected(include):
    with pytest.raises(InvalidInclude) as caught:
        parse(include=include)
    assert caught.value.code == "invalid_include"
    assert "owner" in caught.value.errors["include"][0]


def test_include_count_is_bounded():
    with pytest.raises(InvalidInclude):
        parse(include=",".join(["owner"] * (MAX_INCLUDES + 1)))


def test_cache_token_is_stable_and_distinguishes_selections():
    assert parse("id", include="owner").cache_token() == parse("id", include="owner").cache_token()
    assert parse("id").cache_token() != parse("id", include="owner").cache_token()


def test_unknown_parameters_raise_unknown_parameter():
    reject_unknown_parameters(["limit"], allowed=["limit", "cursor"])
    with pytest.raises(DomainError) as caught:
        reject_unknown_parameters(["limit", "sort", "page"], allowed=["limit", "cursor"])
    assert caught.value.code == "unknown_parameter"
    assert set(caught.value.errors) == {"page", "sort"}
