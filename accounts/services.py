"""Writes on users: create, update, role changes (groups kept in sync), deactivate, logout-all.

Attribute changes go through `User.save()` (or `users_bulk_update`), which send
`accounts.signals` in the same transaction, so a listener (syncqueue's capture) commits with them; token revocation bumps `token_version` (every access and refresh token carrying
the old value is refused) and blacklists the user's outstanding refresh tokens.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction

from accounts.models import User
from accounts.roles import ROLE_GROUP_NAMES
from accounts.signals import tracked_fields_bulk_changed
from accounts.tokens import tokens_revoke_all
from core.errors import Conflict

logger = logging.getLogger(__name__)

# Fields user_update may write; role, is_active, password and the counters have their own paths.
PROFILE_FIELDS = frozenset(
    {"email", "name", "timezone", "locale", "phone", "marketing_opt_in", "plan"}
)


class EmailTaken(Conflict):
    code = "email_taken"
    title = "Email already in use"


class LastAdmin(Conflict):
    code = "last_admin"
    title = "Last active admin"


def _normalize_email(email: str) -> str:
    normalized: str = User.objects.normalize_email(email)
    return normalized.strip().lower()


def _ensure_email_free(*, email: str, exclude_pk: int | None = None) -> None:
    taken = User.objects.using("default").filter(email__iexact=email)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise EmailTaken("A user with this email already exists.", errors={"email": ["taken"]})


def _role_group_apply(*, user: User) -> None:
    """Put the user in exactly the group of their role (other, non-role groups are kept)."""
    group, _ = Group.objects.get_or_create(name=user.role)
    stale = user.groups.filter(name__in=ROLE_GROUP_NAMES).exclude(pk=group.pk)
    if stale.exists():
        user.groups.remove(*stale)
    user.groups.add(group)


def _lock_active_admin_ids() -> list[int]:
    # Locked in pk order (STYLE: one fixed order) so two demotions can't both pass the check.
    return list(
        User.objects.filter(role=User.Role.ADMIN, is_active=True)
        .order_by("pk")
        .select_for_update()
        .values_list("pk", flat=True)
    )


def _refuse_losing_last_admin(*, user: User) -> None:
    admin_ids = _lock_active_admin_ids()
    if user.pk in admin_ids and len(admin_ids) == 1:
        raise LastAdmin("The last active admin cannot be demoted or deactivated.")


@transaction.atomic
def user_create(
    *,
    email: str,
    password: str | None,
    role: str = User.Role.MEMBER,
    is_superuser: bool = False,
    **attributes: Any,
) -> User:
    """Create a user with a hashed password (None = unusable) in the group of their role.

    Raises EmailTaken (409) when the email (case-insensitive) already exists.
    """
    unknown = set(attributes) - (PROFILE_FIELDS - {"email"})
    if unknown:
        raise TypeError(f"user_create got unknown fields: {sorted(unknown)}")
    email = _normalize_email(email)
    _ensure_email_free(email=email)
    user = User(email=email, role=role, is_superuser=is_superuser, **attributes)
    user.set_password(password)
    try:
        with transaction.atomic():  # savepoint: a concurrent insert of the same email
            user.save()
    except IntegrityError:
        raise EmailTaken(
            "A user with this email already exists.", errors={"email": ["taken"]}
        ) from None
    _role_group_apply(user=user)
    logger.info("user created user_id=%s role=%s", user.pk, role)
    return user


@transaction.atomic
def user_update(*, user: User, data: Mapping[str, Any]) -> User:
    """Write the given profile fields (PROFILE_FIELDS only) and save only what changed.

    Raises TypeError for any other field (role, flags and counters have their own services)
    and EmailTaken (409) for an email another user has.
    """
    unknown = set(data) - PROFILE_FIELDS
    if unknown:
        raise TypeError(f"user_update cannot write {sorted(unknown)}")
    changed: list[str] = []
    for name, value in data.items():
        if name == "email":
            value = _normalize_email(value)
            if value != user.email:
                _ensure_email_free(email=value, exclude_pk=user.pk)
        if getattr(user, name) != value:
            setattr(user, name, value)
            changed.append(name)
    if changed:
        try:
            with transaction.atomic():  # savepoint: a concurrent update to the same email
                user.save(update_fields=changed)
        except IntegrityError:
            raise EmailTaken(
                "A user with this email already exists.", errors={"email": ["taken"]}
            ) from None
        logger.info("user updated user_id=%s fields=%s", user.pk, ",".join(sorted(changed)))
    return user


@transaction.atomic
def user_set_role(*, user: User, role: str) -> User:
    """Set the role; `is_staff` follows it (User.save) and the role group is swapped.

    Idempotent. Raises LastAdmin (409) when it would demote the last active admin and
    ValueError for an unknown role.
    """
    if role not in User.Role.values:
        raise ValueError(f"unknown role {role!r}")
    if user.role == User.Role.ADMIN and role != User.Role.ADMIN:
        _refuse_losing_last_admin(user=user)
    previous = user.role
    user.role = role
    user.save(update_fields=["role", "is_staff"])
    _role_group_apply(user=user)
    if previous != role:
        logger.info("user role changed user_id=%s from=%s to=%s", user.pk, previous, role)
    return user


@transaction.atomic
def user_logout_all(*, user: User) -> int:
    """Revoke every token of the user: bump token_version (kills access and refresh tokens
    at their next use) and blacklist the outstanding refresh tokens. Returns how many were
    blacklisted. Safe to repeat.
    """
    revoked = tokens_revoke_all(user=user)
    logger.info("user logged out everywhere user_id=%s refresh_revoked=%s", user.pk, revoked)
    return revoked


@transaction.atomic
def user_deactivate(*, user: User) -> User:
    """Deactivate the user and revoke every token. Idempotent.

    Raises LastAdmin (409) for the last active admin.
    """
    if user.role == User.Role.ADMIN and user.is_active:
        _refuse_losing_last_admin(user=user)
    if user.is_active:
        user.is_active = False
        user.save(update_fields=["is_active"])
    tokens_revoke_all(user=user)
    logger.info("user deactivated user_id=%s", user.pk)
    return user


# --------------------------------------------------------------------------- bulk attribute changes

BULK_UPDATE_CHUNK_USERS = 1000  # users locked and written per statement round


@transaction.atomic
def users_bulk_update(*, updates: Mapping[int, Mapping[str, Any]]) -> int:
    """Apply tracked-attribute changes to many users in one transaction, captured for the
    provider sync exactly like `User.save()` (version bump + one outbox row or merge per
    changed user). `updates` maps user id → {field: value}; only SYNC_TRACKED_FIELDS may be
    set (ValueError otherwise), unknown ids are ignored. Returns how many users changed.
    """
    from django.conf import settings

    tracked = set(settings.SYNC_TRACKED_FIELDS)
    unknown = {name for values in updates.values() for name in values} - tracked
    if unknown:
        raise ValueError(f"users_bulk_update may only set tracked fields, not {sorted(unknown)}")
    ids = sorted(updates)
    changed_total = 0
    for start in range(0, len(ids), BULK_UPDATE_CHUNK_USERS):
        chunk = ids[start : start + BULK_UPDATE_CHUNK_USERS]
        changed: list[User] = []
        fields: set[str] = set()
        # Locked in pk order (the one lock order for users) so concurrent saves can't interleave.
        for user in User.objects.select_for_update().filter(pk__in=chunk).order_by("pk"):
            diff = {
                name: value
                for name, value in updates[user.pk].items()
                if getattr(user, name) != value
            }
            if diff:
                for name, value in diff.items():
                    setattr(user, name, value)
                fields.update(diff)
                changed.append(user)
        if not changed:
            continue
        User.objects.bulk_update(changed, sorted(fields))
        tracked_fields_bulk_changed.send(
            sender=User, user_ids=[user.pk for user in changed], using="default"
        )
        changed_total += len(changed)
    logger.info("users bulk updated requested=%s changed=%s", len(ids), changed_total)
    return changed_total
