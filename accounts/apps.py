from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        from accounts import schema  # noqa: F401  (registers the OpenAPI auth extension)
        from accounts.roles import sync_role_groups_after_migrate

        # Connecting a receiver does no I/O; it runs after `migrate` and test flushes.
        post_migrate.connect(
            sync_role_groups_after_migrate, dispatch_uid="accounts.sync_role_groups"
        )
