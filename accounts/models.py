from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models, transaction
from django.utils import timezone

from accounts.signals import tracked_fields_changed


class UserQuerySet(models.QuerySet["User"]):
    def active(self) -> UserQuerySet:
        return self.filter(is_active=True)


# The Django plugin cannot type a from_queryset() class used as a base: User.objects is Any.
class UserManager(BaseUserManager.from_queryset(UserQuerySet)):  # type: ignore[misc]
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("email is required")
        user: User = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("role", User.Role.MEMBER)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.update(role=User.Role.ADMIN, is_superuser=True)
        return self._create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """Login by email. `is_staff` follows `role` (admin only); accounts.services keeps groups in sync.

    Saving diffs the provider-tracked fields (SYNC_TRACKED_FIELDS) against the values loaded
    from the database and sends `accounts.signals.tracked_fields_changed` in the same
    transaction (syncqueue's capture listens).
    """

    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        EDITOR = "editor", "Editor"
        MEMBER = "member", "Member"

    email = models.EmailField(unique=True, max_length=254)
    name = models.CharField(max_length=150, blank=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER, db_index=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, editable=False)
    date_joined = models.DateTimeField(default=timezone.now)

    # Attributes the provider sync watches (SYNC_TRACKED_FIELDS).
    timezone = models.CharField(max_length=64, blank=True, help_text="IANA zone; empty = TIME_ZONE")
    locale = models.CharField(max_length=16, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    marketing_opt_in = models.BooleanField(default=False)
    plan = models.CharField(max_length=32, blank=True, default="free")

    # Bumped by logout-all: every token carrying an older value is rejected.
    token_version = models.PositiveIntegerField(default=0, editable=False)
    # Bumped with every captured attribute change; the provider applies only higher versions.
    sync_version = models.PositiveBigIntegerField(default=0, editable=False)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        ordering = ("id",)
        indexes = [models.Index(fields=["date_joined"], name="user_date_joined_idx")]

    def __str__(self) -> str:
        return self.email

    @property
    def is_admin(self) -> bool:
        return self.role == self.Role.ADMIN

    @property
    def is_editor_or_admin(self) -> bool:
        return self.role in (self.Role.ADMIN, self.Role.EDITOR)

    # ------------------------------------------------------------------ change capture

    @classmethod
    def from_db(cls, db: str | None, field_names: Any, values: Any) -> User:
        instance = super().from_db(db, field_names, values)
        instance._loaded_tracked = instance.tracked_values()
        return instance

    def tracked_values(self) -> dict[str, Any]:
        return {
            name: getattr(self, name)
            for name in settings.SYNC_TRACKED_FIELDS
            if name in self.__dict__  # deferred fields aren't loaded and can't have changed here
        }

    def refresh_from_db(
        self, using: str | None = None, fields: Any = None, from_queryset: Any = None
    ) -> None:
        """A user built from the cached access state (accounts.auth_cache) defers every other
        column: the first one read loads them all in one query, not one query per column."""
        deferred = self.get_deferred_fields()
        if fields is not None and deferred and set(fields) <= deferred:
            fields = sorted(deferred)
        super().refresh_from_db(using=using, fields=fields, from_queryset=from_queryset)
        if fields is not None:
            loaded = set(fields)
            baseline = getattr(self, "_loaded_tracked", {})
            for name in settings.SYNC_TRACKED_FIELDS:
                if name in loaded:
                    baseline[name] = getattr(self, name)
            self._loaded_tracked = baseline

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            # Role, is_active or is_superuser may change: authentication reads them from the
            # database again once this commits (accounts.auth_cache).
            from accounts.auth_cache import auth_state_changed

            auth_state_changed(user_id=self.pk, using=kwargs.get("using") or "default")
        self.is_staff = self.role == self.Role.ADMIN
        is_creation = self._state.adding
        if not is_creation and kwargs.get("update_fields") is None:
            # Counters move only through their own atomic UPDATEs; a save from a stale instance
            # must never write an old token_version (undoing logout-all) or sync_version back.
            kwargs["update_fields"] = _FIELDS_SAVE_WRITES
        before = getattr(self, "_loaded_tracked", {})
        after = self.tracked_values()
        changed = sorted(
            name for name, value in after.items() if is_creation or before.get(name) != value
        )
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            changed = [name for name in changed if name in set(update_fields)]
        # set_password() keeps the raw value until the save; Django's own rehash on login
        # (check_password's setter) clears it first, so an upgraded hash revokes nothing.
        # (`_password` is AbstractBaseUser's own attribute; the stubs leave it out.)
        is_password_change = not is_creation and getattr(self, "_password", None) is not None
        if not changed and not is_password_change:
            super().save(*args, **kwargs)
            return
        with transaction.atomic(using=kwargs.get("using") or "default"):
            super().save(*args, **kwargs)
            if changed:
                tracked_fields_changed.send(
                    sender=User, user=self, changed_fields=changed, is_creation=is_creation
                )
            if is_password_change:
                from accounts.tokens import tokens_revoke_all

                # A new password ends every session the old one opened (a thief's included).
                tokens_revoke_all(user=self)
        self._loaded_tracked = self.tracked_values()


# Every concrete column except the primary key and the counters (see User.save).
_FIELDS_SAVE_WRITES = [
    field.attname
    for field in User._meta.concrete_fields
    if not field.primary_key and field.attname not in ("token_version", "sync_version")
]


class TokenFamily(models.Model):
    """One login: the refresh token it issued and every token rotated from it carry this id
    (the `fam` claim). Replaying a refresh token that was already rotated marks the family
    revoked, which kills every refresh and access token descended from that login, the
    thief's and the victim's alike (the victim logs in again)."""

    id = models.CharField(max_length=32, primary_key=True)  # uuid4 hex, minted at login
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    # Moves with every rotation; a family past it has no live token and is flushed.
    expires_at = models.DateTimeField(db_index=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.id
