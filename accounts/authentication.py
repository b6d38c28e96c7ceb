"""JWT authentication that also honours logout-all (token_version) and the replica pin."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed as JWTAuthenticationFailed

from core.consistency import apply_user_pin

TOKEN_VERSION_CLAIM = "token_version"  # noqa: S105  (a claim name, not a secret)


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
        user = super().get_user(validated_token)
        if validated_token.get(TOKEN_VERSION_CLAIM) != user.token_version:
            raise exceptions.AuthenticationFailed("Token has been revoked.", code="token_revoked")
        apply_user_pin(user_id=user.pk)
        return user
