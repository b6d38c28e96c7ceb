"""Input and output shapes for auth and users. Inputs never write; views hand them to services.

Mass-assignment proof by construction: each input serializer lists the only fields it
accepts and rejects any other key with 400 (role, is_staff, token_version, sync_version, ...),
so a client learns instead of being silently ignored. Only `UserAdminUpdateIn` (admins) and
`UserCreateIn` (admins) accept `role` and `plan`.
"""

from __future__ import annotations

import re
import zoneinfo
from functools import lru_cache
from typing import Any

from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import RegexValidator
from rest_framework import exceptions, serializers

from accounts.models import User
from core.serializers import StrictInputSerializer

# Published as the fields' `pattern`; blank (which clears the value) is allowed besides.
LOCALE_RE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
PHONE_RE = re.compile(r"^\+?[0-9][0-9 ().-]{2,30}$")


@lru_cache(maxsize=1)
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


# --------------------------------------------------------------------------- auth


class TokenObtainIn(StrictInputSerializer):
    """`{email, password}`; validated_data is `{"user": <the authenticated user>}`."""

    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=256, write_only=True, trim_whitespace=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        user = authenticate(
            request=self.context.get("request"),
            email=attrs["email"].strip().lower(),
            password=attrs["password"],
        )
        if user is None:  # unknown email, wrong password and inactive read the same
            raise exceptions.AuthenticationFailed(
                "No active account found with the given credentials.", code="invalid_credentials"
            )
        return {"user": user}


class TokenPairOut(serializers.Serializer[Any]):
    access = serializers.CharField()
    refresh = serializers.CharField()


class TokenRefreshIn(StrictInputSerializer):
    refresh = serializers.CharField(max_length=4096)


class TokenVerifyIn(StrictInputSerializer):
    token = serializers.CharField(max_length=4096)


class TokenVerifyOut(serializers.Serializer[Any]):
    valid = serializers.BooleanField()


class LogoutAllOut(serializers.Serializer[Any]):
    refresh_tokens_revoked = serializers.IntegerField()


# --------------------------------------------------------------------------- users


class UserOut(serializers.ModelSerializer[User]):
    class Meta:
        model = User
        fields = (
            "id",
            "email",
            "name",
            "role",
            "is_active",
            "is_staff",
            "timezone",
            "locale",
            "phone",
            "marketing_opt_in",
            "plan",
            "date_joined",
            "last_login",
        )
        read_only_fields = fields


class _ProfileFieldsIn(StrictInputSerializer):
    """Profile attributes anyone may set on an account they may edit."""

    name = serializers.CharField(max_length=150, allow_blank=True, required=False)
    # Choices (not a free string) so the schema lists the zones a client may send.
    timezone = serializers.ChoiceField(
        choices=sorted(_time_zones()),
        allow_blank=True,
        required=False,
        error_messages={"invalid_choice": "Unknown IANA time zone."},
    )
    locale = serializers.CharField(
        max_length=16,
        allow_blank=True,
        required=False,
        validators=[
            RegexValidator(LOCALE_RE, message="Expected a locale such as 'en' or 'de-AT'.")
        ],
    )
    phone = serializers.CharField(
        max_length=32,
        allow_blank=True,
        required=False,
        validators=[
            RegexValidator(PHONE_RE, message="Expected digits, optionally starting with '+'.")
        ],
    )
    marketing_opt_in = serializers.BooleanField(required=False)


class _OwnCredentialsIn(_ProfileFieldsIn):
    """A new email on one's own account needs `current_password`, whatever the role: a stolen
    access token alone must not be enough to take the login over (the email is the login,
    and the password-reset address). Admins editing someone else need no password of theirs.

    Context: `user` (the account being changed) and `is_self` (it is the caller's own).
    """

    email = serializers.EmailField(max_length=254, required=False)
    current_password = serializers.CharField(
        max_length=256, write_only=True, required=False, trim_whitespace=False
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        user: User = self.context["user"]
        password = attrs.pop("current_password", None)
        email = attrs.get("email")
        is_email_change = email is not None and email.strip().lower() != user.email
        if is_email_change and self.context.get("is_self", True):
            if password is None:
                raise serializers.ValidationError(
                    {"current_password": ["Required to change the email."]}
                )
            if not user.check_password(password):
                raise serializers.ValidationError({"current_password": ["Incorrect password."]})
        return attrs


class UserSelfUpdateIn(_OwnCredentialsIn):
    """What a user may change on their own account."""


class UserAdminUpdateIn(_OwnCredentialsIn):
    """What an admin may change on any account (their own included, with the same
    re-authentication as anyone for their own email)."""

    plan = serializers.CharField(max_length=32, allow_blank=True, required=False)
    role = serializers.ChoiceField(choices=User.Role.choices, required=False)


class UserCreateIn(_ProfileFieldsIn):
    """Admin-only creation: the password is validated by AUTH_PASSWORD_VALIDATORS."""

    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=256, write_only=True, trim_whitespace=False)
    plan = serializers.CharField(max_length=32, allow_blank=True, required=False)
    role = serializers.ChoiceField(choices=User.Role.choices, default=User.Role.MEMBER)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        candidate = User(email=attrs["email"].lower(), name=attrs.get("name", ""))
        try:
            validate_password(attrs["password"], user=candidate)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"password": list(exc.messages)}) from None
        return attrs


class UserListQuery(StrictInputSerializer):
    """Query parameters of the admin list (pagination's own are allowed through)."""

    page = serializers.IntegerField(min_value=1, required=False)
    page_size = serializers.IntegerField(min_value=1, required=False)
    role = serializers.ChoiceField(choices=User.Role.choices, required=False)
    is_active = serializers.BooleanField(required=False, allow_null=True, default=None)
    search = serializers.CharField(max_length=100, required=False, allow_blank=True)
