from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Order(models.Model):
    """One purchase; GET /api/stats reports their count and the sum of `amount`."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="orders"
    )
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"Order {self.pk} ({self.amount})"
