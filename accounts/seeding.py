"""Bulk users for seed_demo: one password hash, multi-row INSERTs, no save() capture."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.hashers import make_password
from django.utils import timezone

from accounts.models import User

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-password"  # noqa: S105  (documented demo login for make run)
# 5,000 rows per INSERT keeps each statement well under max_allowed_packet.
INSERT_BATCH_SIZE = 5_000
TIMEZONES = (
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Asia/Kolkata",
)


def seed(*, count: int, progress: Callable[[int], None]) -> int:
    password = make_password(DEMO_PASSWORD)  # hashed once: hashing per row would take hours
    now = timezone.now()
    start = (User.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    inserted = 0
    if not User.objects.filter(email=DEMO_EMAIL).exists():
        User.objects.bulk_create(
            [
                User(
                    email=DEMO_EMAIL,
                    name="Demo Admin",
                    role=User.Role.ADMIN,
                    is_staff=True,
                    is_superuser=True,
                    password=password,
                    date_joined=now,
                    timezone="UTC",
                )
            ]
        )
        inserted += 1
    while inserted < count:
        size = min(INSERT_BATCH_SIZE, count - inserted)
        User.objects.bulk_create(
            [
                User(
                    email=f"user{start + inserted + i}@demo.example.com",
                    name=f"Demo User {start + inserted + i}",
                    password=password,
                    date_joined=now,
                    timezone=TIMEZONES[(start + inserted + i) % len(TIMEZONES)],
                    locale="en",
                )
                for i in range(size)
            ],
            batch_size=INSERT_BATCH_SIZE,
        )
        inserted += size
        progress(inserted)
    return inserted
