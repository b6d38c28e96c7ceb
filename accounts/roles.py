"""Role → Django group and model permissions.

Every user belongs to exactly one role group, named after the role. The groups' permissions
are derived here, from the permissions that exist, so apps added later are covered:

- admin: every model permission (the Django admin works for a non-superuser admin);
- editor: everything on posts, plus view on tasks and stats (not staff: no admin site);
- member: no model permissions; the API checks ownership instead.

The data migration creates the groups; `role_groups_sync` (run after every `migrate` and
test-database flush through post_migrate) refreshes their permissions.
"""

from __future__ import annotations

import logging
from typing import Any

from django.apps import apps as global_apps
from django.db.models import Q

logger = logging.getLogger(__name__)

ROLE_ADMIN = "admin"
ROLE_EDITOR = "editor"
ROLE_MEMBER = "member"
ROLE_GROUP_NAMES = (ROLE_ADMIN, ROLE_EDITOR, ROLE_MEMBER)

EDITOR_FULL_APPS = ("posts",)
EDITOR_VIEW_APPS = ("posts", "tasks", "stats")


def role_permission_filter(role: str) -> Q | None:
    """The permissions a role's group holds, as a filter on auth.Permission; None = none."""
    if role == ROLE_ADMIN:
        return Q()
    if role == ROLE_EDITOR:
        return Q(content_type__app_label__in=EDITOR_FULL_APPS) | Q(
            content_type__app_label__in=EDITOR_VIEW_APPS, codename__startswith="view_"
        )
    return None


def role_groups_sync(*, group_model: Any, permission_model: Any, using: str = "default") -> None:
    """Create the three role groups if missing and set each one's permissions exactly.

    Idempotent; takes the models as arguments so the data migration can pass historical ones.
    """
    for role in ROLE_GROUP_NAMES:
        group, _ = group_model.objects.using(using).get_or_create(name=role)
        condition = role_permission_filter(role)
        if condition is None:
            group.permissions.clear()
            continue
        permission_ids = list(
            permission_model.objects.using(using).filter(condition).values_list("pk", flat=True)
        )
        group.permissions.set(permission_ids)


def _last_app_label() -> str:
    labels = [config.label for config in global_apps.get_app_configs() if config.models_module]
    return labels[-1]


def sync_role_groups_after_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    """post_migrate receiver: runs once per migrate/flush, after the last app's permissions exist."""
    if sender.label != _last_app_label():
        return
    from django.contrib.auth.models import Group, Permission

    role_groups_sync(group_model=Group, permission_model=Permission, using=using)
    logger.debug("role groups synced using=%s", using)
