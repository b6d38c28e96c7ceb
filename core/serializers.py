"""Serializers every app's API shares: strict inputs, and the schema of envelopes and problems."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers


class StrictInputSerializer(serializers.Serializer[Any]):
    """Rejects keys it does not declare as writable (400), instead of dropping them: a typo
    or a mass-assignment attempt (`author_id`, `role`, `view_count`) never looks like success.
    Every input body serializer of the API derives from it; core.schema documents its bodies
    as `additionalProperties: false`."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(set(data) - writable)
            if unknown:
                raise serializers.ValidationError(
                    {name: ["This field is unknown or may not be changed."] for name in unknown}
                )
        return super().to_internal_value(data)


class ProblemOut(serializers.Serializer[Any]):
    """RFC 9457 problem details (core.errors), served as application/problem+json.

    Schema only: the body is built by core.errors; `errors` maps a field (or
    "non_field_errors") to its messages and is present on validation problems.
    """

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField()

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        # Added here, not declared: a class attribute named `errors` would shadow
        # Serializer.errors (the validation result every serializer has).
        fields = super().get_fields()
        fields["errors"] = serializers.DictField(
            child=serializers.ListField(child=serializers.CharField())
        )
        return fields


# --------------------------------------------------------------------------- envelope (schema only)


class EnvelopeMetaOut(serializers.Serializer[Any]):
    """`meta` of every success body (core.renderers)."""

    timestamp = serializers.DateTimeField()
    version = serializers.ChoiceField(choices=("v1", "v2"))


class PaginationOut(serializers.Serializer[Any]):
    page = serializers.IntegerField(min_value=1)
    page_size = serializers.IntegerField(min_value=1)
    total = serializers.IntegerField(min_value=0)
    total_pages = serializers.IntegerField(min_value=1)


class PageMetaOut(EnvelopeMetaOut):
    """`meta` of a page-number list (core.pagination)."""

    pagination = PaginationOut()


class CursorOut(serializers.Serializer[Any]):
    next = serializers.CharField(allow_null=True, help_text="Send as `?cursor=` for the next page.")
    prev = serializers.CharField(
        allow_null=True, help_text="Send as `?cursor=` for the previous page."
    )


class CursorMetaOut(EnvelopeMetaOut):
    """`meta` of a cursor list (core.cursor)."""

    cursor = CursorOut()
    limit = serializers.IntegerField(min_value=1)
