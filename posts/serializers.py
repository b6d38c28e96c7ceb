"""Input and output shapes of the posts API (outputs document the schema; selectors build them)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from core.serializers import StrictInputSerializer


class AuthorOut(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()


class CategoryOut(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()


class TagOut(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()


class PostV1Out(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    title = serializers.CharField()
    slug = serializers.CharField()
    body = serializers.CharField()
    published_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField()
    author = AuthorOut()
    category = CategoryOut(allow_null=True)
    tags = TagOut(many=True)


class AuthorV2Out(serializers.Serializer[Any]):
    """With `fields=author.name` (say), only the selected sub-fields are present."""

    id = serializers.IntegerField(required=False)
    name = serializers.CharField(required=False)


class CategoryV2Out(serializers.Serializer[Any]):
    id = serializers.IntegerField(required=False)
    name = serializers.CharField(required=False)
    slug = serializers.CharField(required=False)


class TagV2Out(serializers.Serializer[Any]):
    id = serializers.IntegerField(required=False)
    name = serializers.CharField(required=False)
    slug = serializers.CharField(required=False)


class PostV2Out(serializers.Serializer[Any]):
    """Every field is optional: `?fields=` picks them; `?include=` swaps ids for objects."""

    id = serializers.IntegerField(required=False)
    title = serializers.CharField(required=False)
    slug = serializers.CharField(required=False)
    body = serializers.CharField(required=False)
    published_at = serializers.DateTimeField(required=False, allow_null=True)
    updated_at = serializers.DateTimeField(required=False)
    author_id = serializers.IntegerField(required=False)
    category_id = serializers.IntegerField(required=False, allow_null=True)
    tag_ids = serializers.ListField(child=serializers.IntegerField(), required=False)
    author = AuthorV2Out(required=False, help_text="With ?include=author.")
    category = CategoryV2Out(required=False, allow_null=True, help_text="With ?include=category.")
    tags = TagV2Out(many=True, required=False, help_text="With ?include=tags.")
    status = serializers.CharField(required=False, help_text="Editors and admins only.")
    created_at = serializers.DateTimeField(required=False, help_text="Editors and admins only.")
    view_count = serializers.IntegerField(required=False, help_text="Editors and admins only.")


class PostCreateIn(StrictInputSerializer):
    title = serializers.CharField(max_length=200)
    slug = serializers.SlugField(max_length=200, required=False)
    body = serializers.CharField(required=False, allow_blank=True, default="")
    category_id = serializers.IntegerField(required=False, allow_null=True, default=None)
    tag_ids = serializers.ListField(
        child=serializers.IntegerField(), required=False, default=list, max_length=20
    )
    publish = serializers.BooleanField(required=False, default=False)


class PostUpdateIn(StrictInputSerializer):
    title = serializers.CharField(max_length=200, required=False)
    slug = serializers.SlugField(max_length=200, required=False)
    body = serializers.CharField(required=False, allow_blank=True)
    category_id = serializers.IntegerField(required=False, allow_null=True)
    tag_ids = serializers.ListField(child=serializers.IntegerField(), required=False, max_length=20)
