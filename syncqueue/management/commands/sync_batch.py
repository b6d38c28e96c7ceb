from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

DEMO_USERS = 20
PLANS = ("free", "pro", "team", "enterprise")
LOCALES = ("en", "fr", "de", "es", "pt")


class Command(BaseCommand):
    help = (
        "Change the tracked attributes of 20 demo users N times (each change is one captured save)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("rounds", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        emails = [f"sync-demo-{index:02d}@example.com" for index in range(DEMO_USERS)]
        existing = set(user_model.objects.filter(email__in=emails).values_list("email", flat=True))
        # bulk_create bypasses capture on purpose: the rounds below are the changes to sync.
        user_model.objects.bulk_create(
            [user_model(email=email, name="demo") for email in emails if email not in existing]
        )
        users = list(user_model.objects.filter(email__in=emails).order_by("id"))
        for round_number in range(options["rounds"]):
            for user in users:
                user.name = f"demo {user.pk} round {round_number}"
                user.plan = PLANS[round_number % len(PLANS)]
                user.locale = LOCALES[round_number % len(LOCALES)]
                user.save()
        self.stdout.write(f"{options['rounds'] * len(users)} changes saved for {len(users)} users")
