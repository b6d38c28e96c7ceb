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


class CounterSlot(models.Model):
    """Exact sharded counter: COUNTER_SLOTS rows per metric, value = sum of the metric's slots.

    A writing transaction adds to one random slot (no single hot row); a periodic recount on
    a replica adds any drift from writes that bypassed the counters (bulk loads, raw SQL).
    """

    class Metric(models.TextChoices):
        USERS = "users", "Users"
        ORDERS_COUNT = "orders_count", "Orders"
        ORDERS_TOTAL_CENTS = "orders_total_cents", "Sum of order amounts, in cents"

    metric = models.CharField(max_length=32, choices=Metric.choices)
    slot = models.PositiveSmallIntegerField()
    value = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["metric", "slot"], name="stats_counterslot_metric_slot")
        ]

    def __str__(self) -> str:
        return f"{self.metric}[{self.slot}] = {self.value}"
