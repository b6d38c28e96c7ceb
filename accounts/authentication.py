"""JWT authentication that also honours logout-all (token_version) and the replica pin."""

from __future__ import annotations

from typing import Any

from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed

from config.db_router import apply_user_pin

TOKEN_VERSION_CLAIM = "token_version"  # noqa: S105  (a claim name, not a secret)


class VersionedJWTAuthentication(JWTAuthentication):
    def get_user(self, validated_token: Any) -> Any:
        user = super().get_user(validated_token)
        if validated_token.get(TOKEN_VERSION_CLAIM) != user.token_version:
            raise AuthenticationFailed("Token has been revoked.", code="token_revoked")
        apply_user_pin(user_id=user.pk)
        return user
