"""JWT authentication that also honours logout-all (token_version), revoked logins (token
families, see accounts.tokens) and the replica pin.

Warm path (accounts.auth_cache): one coordination-Redis script checks the token against the
user's cached access state and the family mark, decides the view's rate limit and reads the
replica pin; no database query before the view. Cold (state missing), Redis unreachable or
not configured: the user row from the database, as simplejwt does, then a fill."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed as JWTAuthenticationFailed
from rest_framework_simplejwt.settings import api_settings as jwt_settings

from core import redis as coordination
from core.consistency import apply_user_pin, pin_key
from core.context import is_pinned_var

TOKEN_VERSION_CLAIM = "token_version"  # noqa: S105  (a claim name, not a secret)
FAMILY_CLAIM = "fam"  # the login (accounts.TokenFamily) a token descends from


def _flat(exc: JWTAuthenticationFailed) -> exceptions.AuthenticationFailed:
    """simplejwt errors carry a dict detail (plus a list of tried tokens); problem+json wants
    one sentence and one code."""
    detail = exc.detail if isinstance(exc.detail, dict) else {"detail": exc.detail}
    code = str(detail.get("code") or "token_not_valid")
    return exceptions.AuthenticationFailed(str(detail.get("detail") or "Invalid token."), code=code)


def _limit_scope(request: Any) -> str | None:
    """The scope core.throttling will decide for this view, so the auth script can decide it
    in the same round trip (None: the view is not limited that way)."""
    from core.throttling import ScopedRateThrottle

    if not settings.RATE_LIMIT_ENABLED:
        return None
    view = (getattr(request, "parser_context", None) or {}).get("view")
    if view is None or not any(
        isinstance(throttle, type) and issubclass(throttle, ScopedRateThrottle)
        for throttle in getattr(view, "throttle_classes", ())
    ):
        return None
    return getattr(view, "throttle_scope", None) or "default"


class VersionedJWTAuthentication(JWTAuthentication):
    def authenticate(self, request: Any) -> Any:
        try:
            header = self.get_header(request)
            if header is None:
                return None
            raw_token = self.get_raw_token(header)
            if raw_token is None:
                return None
            validated_token = self.get_validated_token(raw_token)
        except JWTAuthenticationFailed as exc:
            raise _flat(exc) from None
        return self.user_for(request, validated_token), validated_token

    def user_for(self, request: Any, validated_token: Any) -> Any:
        """The token's user from the cached access state (one Redis round trip, no query), or
        from the database when the state is missing or Redis is unavailable."""
        from accounts import auth_cache

        claim = str(validated_token.get(jwt_settings.USER_ID_CLAIM, ""))
        if not (claim.isascii() and claim.isdigit()) or not coordination.is_configured():
            return self.get_user(validated_token)
        user_id = int(claim)
        token_version = validated_token.get(TOKEN_VERSION_CLAIM)
        family = validated_token.get(FAMILY_CLAIM)
        scope = _limit_scope(request)
        try:
            check = auth_cache.auth_state_check(
                user_id=user_id,
                token_version=token_version,
                family=str(family) if family is not None else None,
                limit_scope=scope,
                pin_key=pin_key(user_id) if settings.DATABASE_REPLICAS else None,
            )
        except coordination.CoordinationUnavailable:
            return self.get_user(validated_token)
        if check.outcome == auth_cache.MISS:
            user = self.get_user(validated_token)
            auth_cache.auth_state_fill(user=user, generation=check.generation)
            return user
        if check.outcome == auth_cache.INACTIVE:
            raise exceptions.AuthenticationFailed("User is inactive.", code="user_inactive")
        if check.outcome != auth_cache.ALLOWED:
            raise exceptions.AuthenticationFailed("Token has been revoked.", code="token_revoked")
        if check.decision is not None:
            # core.throttling takes this decision instead of asking Redis again.
            request.prefetched_rate_limit = (scope, f"user:{user_id}", check.decision)
        if check.is_pinned:
            is_pinned_var.set(True)
        return auth_cache.auth_principal(user_id=user_id, token_version=token_version, check=check)

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
