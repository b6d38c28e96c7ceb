"""Serializers every app's API schema shares."""

from __future__ import annotations

from rest_framework import serializers


class ProblemOut(serializers.Serializer):
    """RFC 9457 problem details (core.errors), served as application/problem+json.

    Schema only: the body is built by core.errors; `errors` maps a field (or
    "non_field_errors") to its messages and is present on validation problems.
    """

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))
