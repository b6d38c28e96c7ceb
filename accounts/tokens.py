"""JWT issue, rotation and verification, all bound to the user's `token_version`.

Every token carries the `token_version` claim of the moment it was issued; logout-all and
deactivation bump the column, so older tokens fail both at authentication (access) and at
refresh/verify (here).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from rest_framework import exceptions
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken, UntypedToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from accounts.authentication import TOKEN_VERSION_CLAIM

logger = logging.getLogger(__name__)

# 5,000 ids per DELETE keeps each statement (and its row locks) short on a busy primary.
FLUSH_CHUNK_SIZE = 5_000


def refresh_token_for(user: Any) -> RefreshToken:
    """A refresh token (and, copied from it, its access token) carrying token_version."""
    token = RefreshToken.for_user(user)
    token[TOKEN_VERSION_CLAIM] = user.token_version
    return token


def token_pair_for(user: Any) -> dict[str, str]:
    """{"access", "refresh"} for a freshly authenticated user; the refresh token is recorded
    as outstanding so logout-all can blacklist it."""
    refresh = refresh_token_for(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def _invalid(detail: str, code: str = "token_not_valid") -> exceptions.AuthenticationFailed:
    return exceptions.AuthenticationFailed(detail, code=code)


def _current_user(payload: Any) -> Any:
    """The token's user if active and its token_version is current, else AuthenticationFailed."""
    user_id = payload.get(jwt_settings.USER_ID_CLAIM)
    user_model = get_user_model()
    user = user_model.objects.using("default").filter(pk=user_id).first() if user_id else None
    if user is None or not user.is_active:
        raise _invalid("No active account found for the given token.", "no_active_account")
    if payload.get(TOKEN_VERSION_CLAIM) != user.token_version:
        raise _invalid("Token has been revoked.", "token_revoked")
    return user


def refresh_rotate(*, raw: str) -> dict[str, str]:
    """Exchange a refresh token for a new pair and blacklist the old one, exactly once.

    The outstanding-token row is locked, so two concurrent uses of the same refresh token
    cannot both succeed: the second sees the blacklist entry and is refused (401). A token
    whose token_version is stale, or whose user is inactive, is refused too.
    """
    try:
        refresh = RefreshToken(raw)  # signature, expiry, type, blacklist
    except TokenError as exc:
        raise _invalid(str(exc)) from None
    jti = refresh[jwt_settings.JTI_CLAIM]
    with transaction.atomic():
        user = _current_user(refresh.payload)
        outstanding, _ = OutstandingToken.objects.get_or_create(
            jti=jti,
            defaults={
                "user": user,
                "token": raw,
                "expires_at": datetime_from_epoch(refresh["exp"]),
            },
        )
        OutstandingToken.objects.select_for_update().filter(pk=outstanding.pk).get()
        if BlacklistedToken.objects.filter(token_id=outstanding.pk).exists():
            logger.warning("refresh token reuse refused user_id=%s jti=%s", user.pk, jti)
            raise _invalid("Token is blacklisted.", "token_blacklisted")
        BlacklistedToken.objects.create(token=outstanding)
        pair = token_pair_for(user)
    return pair


def token_verify(*, raw: str) -> None:
    """Raise AuthenticationFailed unless `raw` (access or refresh) is valid, not blacklisted,
    and carries its user's current token_version."""
    try:
        token = UntypedToken(raw)
    except TokenError as exc:
        raise _invalid(str(exc)) from None
    jti = token.get(jwt_settings.JTI_CLAIM)
    if BlacklistedToken.objects.filter(token__jti=jti).exists():
        raise _invalid("Token is blacklisted.", "token_blacklisted")
    _current_user(token.payload)


def tokens_flush_expired(*, now: datetime | None = None, chunk_size: int = FLUSH_CHUNK_SIZE) -> int:
    """simplejwt's `flushexpiredtokens` in chunks: delete outstanding tokens past expiry
    (their blacklist rows cascade). Idempotent; returns how many were deleted."""
    cutoff = now or timezone.now()
    deleted = 0
    while True:
        ids = list(
            OutstandingToken.objects.filter(expires_at__lte=cutoff)
            .order_by("pk")
            .values_list("pk", flat=True)[:chunk_size]
        )
        if not ids:
            return deleted
        OutstandingToken.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
