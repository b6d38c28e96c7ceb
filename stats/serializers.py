"""Shapes of GET /api/stats, for the OpenAPI schema (the view sends stored bytes)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class StatsOutSerializer(serializers.Serializer[Any]):
    users = serializers.IntegerField(help_text="Number of user accounts.")
    orders = serializers.DecimalField(
        max_digits=30,
        decimal_places=2,
        coerce_to_string=True,
        help_text='Sum of all order amounts as a decimal string ("0.00" when none).',
    )
    orders_count = serializers.IntegerField(help_text="Number of orders.")
    generated_at = serializers.DateTimeField(help_text="When the numbers were computed (UTC).")
