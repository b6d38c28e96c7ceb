"""JWT authentication that also honours logout-all (token_version), revoked logins (token
families, see accounts.tokens) and the replica pin."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed as JWTAuthenticationFailed
from rest_framework_simplejwt.settings import api_settings as jwt_settings

from core.consistency import apply_user_pin

TOKEN_VERSION_CLAIM = "token_version"  # noqa: S105  (a claim name, not a secret)
FAMILY_CLAIM = "fam"  # the login (accounts.TokenFamily) a token descends from


def _flat(exc: JWTAuthenticationFailed) -> exceptions.AuthenticationFailed:
    """simplejwt errors carry a dict detail (plus a list of tried tokens); problem+json wants
    one sentence and one code."""
    detail = exc.detail if isinstance(exc.detail, dict) else {"detail": exc.detail}
    code = str(detail.get("code") or "token_not_valid")
    return exceptions.AuthenticationFailed(str(detail.get("detail") or "Invalid token."), code=code)


class VersionedJWTAuthentication(JWTAuthentication):
    def authenticate(self, request: Any) -> Any:
        try:
            return super().authenticate(request)
        except JWTAuthenticationFailed as exc:
            raise _flat(exc) from None

    def get_user(self, validated_token: Any) -> Any:
        """simplejwt's lookup, plus token_version and the token family, in one query."""
        from django.db.models import Exists, OuterRef

        from accounts.models import TokenFamily

        user_id = validated_token.get(jwt_settings.USER_ID_CLAIM)
        if user_id is None:
            raise exceptions.AuthenticationFailed("Token has no user.", code="token_not_valid")
        users = self.user_model.objects.filter(**{jwt_settings.USER_ID_FIELD: user_id})
        family = validated_token.get(FAMILY_CLAIM)
        if family is not None:
            live = TokenFamily.objects.filter(
                pk=str(family), user_id=OuterRef("pk"), revoked_at__isnull=True
            )
            users = users.annotate(is_family_live=Exists(live))
        user = users.first()
        if user is None:
            raise exceptions.AuthenticationFailed("User not found.", code="user_not_found")
        if not user.is_active:
            raise exceptions.AuthenticationFailed("User is inactive.", code="user_inactive")
        if validated_token.get(TOKEN_VERSION_CLAIM) != user.token_version:
            raise exceptions.AuthenticationFailed("Token has been revoked.", code="token_revoked")
        if family is not None and not user.is_family_live:
            raise exceptions.AuthenticationFailed("Token has been revoked.", code="token_revoked")
        apply_user_pin(user_id=user.pk)
        return user
