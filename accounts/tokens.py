"""JWT issue, rotation and verification, bound to the user's `token_version` and to the
login's token family.

Every token carries the `token_version` claim of the moment it was issued; logout-all,
deactivation and a password change bump the column, so older tokens fail both at
authentication (access) and at refresh/verify (here).

Every token also carries `fam`, the id of the login it descends from (accounts.TokenFamily).
Refresh tokens are single use; presenting one that was already rotated is reuse (a stolen
copy, or the victim after the thief rotated first), so the whole family is revoked: the
replacement refresh token and every access token of that login stop working (OAuth 2.0
Security BCP, RFC 9700 section 4.14.2).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from rest_framework import exceptions
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken, UntypedToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from accounts.authentication import FAMILY_CLAIM, TOKEN_VERSION_CLAIM
from accounts.models import TokenFamily
from core.purge import rows_delete_in_chunks

logger = logging.getLogger(__name__)

# 5,000 ids per DELETE keeps each statement (and its row locks) short on a busy primary.
FLUSH_CHUNK_SIZE = 5_000


def refresh_token_for(user: Any, *, family: str | None = None) -> RefreshToken:
    """A refresh token (and, copied from it, its access token) carrying token_version and,
    when given, the login's family id."""
    token = RefreshToken.for_user(user)
    token[TOKEN_VERSION_CLAIM] = user.token_version
    if family is not None:
        token[FAMILY_CLAIM] = family
    return token


def _pair(user: Any, *, family: str) -> dict[str, str]:
    refresh = refresh_token_for(user, family=family)
    TokenFamily.objects.filter(pk=family).update(expires_at=datetime_from_epoch(refresh["exp"]))
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


@transaction.atomic
def token_pair_for(user: Any) -> dict[str, str]:
    """{"access", "refresh"} for a freshly authenticated user: a new login, so a new token
    family. The refresh token is recorded as outstanding so logout-all can blacklist it."""
    family = TokenFamily.objects.create(id=uuid.uuid4().hex, user=user, expires_at=timezone.now())
    return _pair(user, family=family.pk)


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


REUSED_DETAIL = "Refresh token was already used; every token of this login is revoked."


class TokenReused(exceptions.AuthenticationFailed):
    default_code = "token_reused"


def _family_of(payload: Any, *, user: Any) -> TokenFamily | None:
    """The token's family (None for a token minted before families existed); refused when
    the family was revoked or belongs to someone else."""
    family_id = payload.get(FAMILY_CLAIM)
    if family_id is None:
        return None
    family = TokenFamily.objects.filter(pk=str(family_id), user_id=user.pk).first()
    if family is None or family.revoked_at is not None:
        raise _invalid("Token has been revoked.", "token_revoked")
    return family


def token_family_revoke(*, family_id: str, reason: str) -> int:
    """Revoke one login: every refresh and access token carrying this family id is refused
    from now on (both check the family at each use). Idempotent; returns rows changed."""
    changed = TokenFamily.objects.filter(pk=family_id, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if changed:
        logger.warning("token family revoked family=%s reason=%s", family_id, reason)
        from accounts.auth_cache import family_revoked_mark

        family_revoked_mark(family_id=family_id)
    return changed


def refresh_rotate(*, raw: str) -> dict[str, str]:
    """Exchange a refresh token for a new pair of the same family and blacklist the old one,
    exactly once.

    The outstanding-token row is locked, so two concurrent uses of the same refresh token
    cannot both succeed. A token already rotated is reuse: the family is revoked (the token
    that replaced it dies too) and the caller gets 401 `token_reused`. A token whose family
    was revoked, whose token_version is stale, or whose user is inactive is refused (401).
    """
    try:
        # simplejwt annotates the argument as Token; it takes the encoded string.
        refresh = RefreshToken(raw)  # type: ignore[arg-type]  # signature, expiry, type, blacklist
    except TokenError as exc:
        if _is_replay(raw):
            raise TokenReused(REUSED_DETAIL) from None
        raise _invalid(str(exc)) from None
    jti = refresh[jwt_settings.JTI_CLAIM]
    with transaction.atomic():
        user = _current_user(refresh.payload)
        family = _family_of(refresh.payload, user=user)
        outstanding, _ = OutstandingToken.objects.get_or_create(
            jti=jti,
            defaults={
                "user": user,
                "token": raw,
                "expires_at": datetime_from_epoch(refresh["exp"]),
            },
        )
        OutstandingToken.objects.select_for_update().filter(pk=outstanding.pk).get()
        is_reused = BlacklistedToken.objects.filter(token_id=outstanding.pk).exists()
        if not is_reused:
            BlacklistedToken.objects.create(token=outstanding)
            if family is None:  # a pre-family token: its rotation starts a family
                return token_pair_for(user)
            return _pair(user, family=family.pk)
    # Outside the transaction: the revocation must commit although the request fails.
    logger.warning("refresh token reuse user_id=%s jti=%s", user.pk, jti)
    if family is not None:
        token_family_revoke(family_id=family.pk, reason="refresh_reuse")
    raise TokenReused(REUSED_DETAIL)


def _is_replay(raw: str) -> bool:
    """simplejwt refused `raw`; True (and its family revoked) if that was because it is a
    well-signed, unexpired refresh token that was already rotated."""
    try:
        # signature and expiry, not the blacklist; the stubs type the argument as Token
        payload = UntypedToken(raw).payload  # type: ignore[arg-type]
    except TokenError:
        return False
    jti = payload.get(jwt_settings.JTI_CLAIM)
    if payload.get(jwt_settings.TOKEN_TYPE_CLAIM) != "refresh" or not jti:
        return False
    if not BlacklistedToken.objects.filter(token__jti=jti).exists():
        return False
    logger.warning(
        "refresh token reuse user_id=%s jti=%s", payload.get(jwt_settings.USER_ID_CLAIM), jti
    )
    family_id = payload.get(FAMILY_CLAIM)
    if family_id is not None:
        token_family_revoke(family_id=str(family_id), reason="refresh_reuse")
    return True


def token_verify(*, raw: str) -> None:
    """Raise AuthenticationFailed unless `raw` (access or refresh) is valid, not blacklisted,
    and carries its user's current token_version."""
    try:
        token = UntypedToken(raw)  # type: ignore[arg-type]  # the encoded string, as above
    except TokenError as exc:
        raise _invalid(str(exc)) from None
    jti = token.get(jwt_settings.JTI_CLAIM)
    if BlacklistedToken.objects.filter(token__jti=jti).exists():
        raise _invalid("Token is blacklisted.", "token_blacklisted")
    user = _current_user(token.payload)
    _family_of(token.payload, user=user)


def tokens_revoke_all(*, user: Any) -> int:
    """Every token of the user stops working: bump token_version (access and refresh tokens
    carrying the old value are refused at their next use) and blacklist the outstanding
    refresh tokens. Returns how many were blacklisted; safe to repeat."""
    user_model = get_user_model()
    user_model.objects.filter(pk=user.pk).update(token_version=F("token_version") + 1)
    outstanding_ids = list(
        OutstandingToken.objects.filter(
            user_id=user.pk, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True
        ).values_list("pk", flat=True)
    )
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token_id=pk) for pk in outstanding_ids], ignore_conflicts=True
    )
    user.token_version = (
        user_model.objects.using("default").values_list("token_version", flat=True).get(pk=user.pk)
    )
    from accounts.auth_cache import auth_state_changed

    # Before the response: the next request reads the new token_version.
    auth_state_changed(user_id=user.pk)
    return len(outstanding_ids)


def tokens_flush_expired(*, now: datetime | None = None, chunk_size: int = FLUSH_CHUNK_SIZE) -> int:
    """simplejwt's `flushexpiredtokens` in chunks: delete outstanding tokens past expiry
    (their blacklist rows cascade), then token families with no live token left.
    Idempotent; returns how many outstanding tokens were deleted."""
    cutoff = now or timezone.now()
    rows_delete_in_chunks(TokenFamily.objects.filter(expires_at__lte=cutoff), chunk_size=chunk_size)
    return rows_delete_in_chunks(
        OutstandingToken.objects.filter(expires_at__lte=cutoff), chunk_size=chunk_size
    )
