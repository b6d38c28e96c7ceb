from __future__ import annotations

from typing import Any

from rest_framework_simplejwt.tokens import RefreshToken

from accounts.authentication import TOKEN_VERSION_CLAIM


def refresh_token_for(user: Any) -> RefreshToken:
    """A refresh token (and, copied from it, its access token) carrying token_version."""
    token = RefreshToken.for_user(user)
    token[TOKEN_VERSION_CLAIM] = user.token_version
    return token
