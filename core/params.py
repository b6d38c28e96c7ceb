"""Strict parsing of query-string values, shared by every list endpoint."""

from __future__ import annotations

import re

from core.errors import DomainError

# ASCII digits only ("²".isdigit() is True but int("²") raises) and bounded, so a 5,000-digit
# value is a 400, never a ValueError from int() (and always fits a BIGINT).
_PLAIN_INT_RE = re.compile(r"[0-9]{1,18}")


def is_plain_int(raw: str) -> bool:
    return bool(_PLAIN_INT_RE.fullmatch(raw))


def invalid_param(name: str, message: str, *, detail: str | None = None) -> DomainError:
    """The 400 problem for one bad query parameter (`errors` keyed by the parameter name)."""
    return DomainError(
        detail or f"{name}: {message}",
        code="invalid",
        title="Invalid input",
        errors={name: [message]},
    )
