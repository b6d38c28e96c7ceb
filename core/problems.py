"""The catalog of problem types: every `code` a problem+json body can carry.

Each problem's `type` is `/problems/<code>` (a relative URI, resolved against the API's own
origin). That page explains the problem to a person (HTML) or a program (JSON); the list is
at `/problems`. A test checks that every code the project and its libraries raise is here.
"""

from __future__ import annotations

from dataclasses import dataclass

PROBLEM_TYPE_PREFIX = "/problems/"


@dataclass(frozen=True)
class ProblemType:
    code: str
    status: int
    title: str
    description: str

    @property
    def uri(self) -> str:
        return problem_type_uri(self.code)


def problem_type_uri(code: str) -> str:
    return f"{PROBLEM_TYPE_PREFIX}{code}"


_TYPES = (
    # ---- 400: the request itself is wrong; fix it before retrying
    ProblemType(
        "invalid",
        400,
        "Invalid input",
        "A field or parameter failed validation. `errors` maps each dotted field path "
        "(`tags.0`, `non_field_errors`) to its messages. Nothing was changed.",
    ),
    ProblemType(
        "invalid_idempotency_key",
        400,
        "Invalid Idempotency-Key",
        "The Idempotency-Key header must be 1 to 255 printable ASCII characters (a quoted "
        "string per RFC 8941 is accepted). Nothing was changed.",
    ),
    ProblemType(
        "bad_request",
        400,
        "Bad request",
        "The request could not be understood, for example a malformed Content-Length header.",
    ),
    ProblemType(
        "parse_error",
        400,
        "Malformed request body",
        "The body is not valid JSON. Send `Content-Type: application/json` with a JSON object.",
    ),
    ProblemType(
        "json_too_complex",
        400,
        "Request body too complex",
        "The JSON body nests too deeply or has too many values; flatten or shorten it.",
    ),
    ProblemType(
        "unknown_parameter",
        400,
        "Unknown query parameter",
        "The endpoint does not know a query parameter you sent; `errors` names it. Parameters "
        "are never ignored silently, so a typo cannot change the result unnoticed.",
    ),
    ProblemType(
        "invalid_cursor",
        400,
        "Invalid cursor",
        "A v2 `cursor` is malformed, was signed for other filters or ordering, or was tampered "
        "with. Use `meta.cursor.next` or `prev` exactly as returned, with the same filters.",
    ),
    ProblemType(
        "invalid_fields",
        400,
        "Unknown field in `fields`",
        "`?fields=` names a field the resource does not have; `errors` lists the valid ones.",
    ),
    ProblemType(
        "invalid_include",
        400,
        "Unknown relation in `include`",
        "`?include=` names a relation that cannot be embedded; `errors` lists the valid ones.",
    ),
    # ---- 401: who you are is unknown or not accepted
    ProblemType(
        "not_authenticated",
        401,
        "Authentication required",
        "Send `Authorization: Bearer <access token>`; obtain one from POST /api/v1/auth/token.",
    ),
    ProblemType(
        "authentication_failed",
        401,
        "Authentication failed",
        "The credentials were not accepted.",
    ),
    ProblemType(
        "invalid_credentials",
        401,
        "Wrong e-mail or password",
        "No active account matches that e-mail and password.",
    ),
    ProblemType(
        "no_active_account",
        401,
        "Wrong e-mail or password",
        "No active account matches that e-mail and password.",
    ),
    ProblemType(
        "token_not_valid",
        401,
        "Token not valid",
        "The token is expired, malformed, of the wrong kind (a refresh token used as an access "
        "token), or blacklisted after a refresh. Refresh it, or log in again.",
    ),
    ProblemType(
        "token_revoked",
        401,
        "Token revoked",
        "Every token of this user was revoked (POST /api/v1/auth/logout-all, deactivation or a "
        "password change), or this login was revoked after its refresh token was reused. "
        "Log in again.",
    ),
    ProblemType(
        "token_reused",
        401,
        "Refresh token reused",
        "This refresh token was already exchanged for a new pair. A second use means a copy "
        "exists somewhere else, so every token of this login (the newer ones included) is now "
        "revoked. Log in again.",
    ),
    ProblemType(
        "bad_authorization_header",
        401,
        "Malformed Authorization header",
        "Use `Authorization: Bearer <token>` with exactly one token.",
    ),
    ProblemType(
        "user_not_found",
        401,
        "User not found",
        "The token names a user that no longer exists. Log in again.",
    ),
    ProblemType(
        "user_inactive",
        401,
        "User inactive",
        "The account is deactivated; an administrator can reactivate it.",
    ),
    ProblemType(
        "password_changed",
        401,
        "Password changed",
        "The password changed after this token was issued. Log in again.",
    ),
    # ---- 403 / 404 / 405 / 406 / 409 / 413 / 415
    ProblemType(
        "permission_denied",
        403,
        "Permission denied",
        "You are authenticated but your role does not allow this. Members act on their own "
        "resources; editors manage posts; admins manage users.",
    ),
    ProblemType(
        "csrf_failed",
        403,
        "CSRF verification failed",
        "A cookie-authenticated form post lacked a valid CSRF token. API clients should use "
        "bearer tokens, which need no CSRF token.",
    ),
    ProblemType(
        "not_found",
        404,
        "Not found",
        "No such resource, or it is not yours to see. Paths have no trailing slash.",
    ),
    ProblemType(
        "method_not_allowed",
        405,
        "Method not allowed",
        "The resource exists but not with this HTTP method; the `Allow` header lists the ones "
        "it takes.",
    ),
    ProblemType(
        "not_acceptable",
        406,
        "Not acceptable",
        "The API answers `application/json` (and `application/problem+json` for errors); "
        "accept one of them.",
    ),
    ProblemType(
        "idempotency_key_in_use",
        409,
        "Idempotency-Key in use",
        "A request with this Idempotency-Key is still being processed. Retry after "
        "`Retry-After` seconds: you will get its answer.",
    ),
    ProblemType(
        "idempotency_key_mismatch",
        422,
        "Idempotency-Key reused with another request",
        "This Idempotency-Key was already used with a different body or endpoint within the "
        "last 24 hours. Use a new key for a new request.",
    ),
    ProblemType(
        "conflict",
        409,
        "Conflict",
        "The request conflicts with the resource's current state; reload it and retry.",
    ),
    ProblemType(
        "slug_taken",
        409,
        "Slug taken",
        "Another post already uses this slug; choose another.",
    ),
    ProblemType(
        "email_taken",
        409,
        "E-mail taken",
        "Another account already uses this e-mail address.",
    ),
    ProblemType(
        "last_admin",
        409,
        "Last admin",
        "The change would leave no active admin; promote another user first.",
    ),
    ProblemType(
        "payload_too_large",
        413,
        "Request body too large",
        "The body exceeds API_MAX_BODY_BYTES (1 MiB by default) and was refused unread.",
    ),
    ProblemType(
        "unsupported_media_type",
        415,
        "Unsupported media type",
        "Send request bodies as `Content-Type: application/json`.",
    ),
    # ---- 429 / 5xx: retry later, after `Retry-After` seconds
    ProblemType(
        "throttled",
        429,
        "Too many requests",
        "The rate limit of this endpoint is spent. Wait `Retry-After` seconds; the "
        "`RateLimit` and `X-RateLimit-*` headers show the budget.",
    ),
    ProblemType(
        "server_error",
        500,
        "Internal server error",
        "An unexpected error, logged with the request id (`X-Request-ID`). Nothing internal is "
        "shown; report the request id if it persists.",
    ),
    ProblemType(
        "idempotency_unavailable",
        503,
        "Idempotency store unavailable",
        "A request carrying an Idempotency-Key cannot be checked for a repeat right now, and "
        "running it unchecked could create a duplicate. Retry after `Retry-After` seconds.",
    ),
    ProblemType(
        "service_unavailable",
        503,
        "Service unavailable",
        "A dependency is briefly unavailable. Retry after `Retry-After` seconds.",
    ),
    ProblemType(
        "database_unavailable",
        503,
        "Database unavailable",
        "The database is unreachable, stalled or switching roles. Retry after `Retry-After` "
        "seconds; nothing was changed unless a later read shows it.",
    ),
    ProblemType(
        "rate_limiter_unavailable",
        503,
        "Rate limiter unavailable",
        "Sign-in endpoints refuse requests while their rate limiter cannot be consulted, "
        "rather than allow unlimited password guessing. Retry after `Retry-After` seconds.",
    ),
    ProblemType(
        "stats_unavailable",
        503,
        "Statistics not ready",
        "The statistics are being computed for the first time; retry after `Retry-After` seconds.",
    ),
)

PROBLEM_TYPES: dict[str, ProblemType] = {problem.code: problem for problem in _TYPES}
