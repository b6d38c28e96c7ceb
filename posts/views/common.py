"""Permissions and helpers both API versions share."""

from __future__ import annotations

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request


class IsEditorOrReadOnly(permissions.BasePermission):
    """Anyone reads (published posts; drafts are filtered by the selectors); editors and
    admins write."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        user = request.user
        return bool(user and user.is_authenticated and user.is_editor_or_admin)

    @staticmethod
    def schema_denies(method: str) -> bool:
        """Reads are never refused (core.schema documents 403 on writes only)."""
        return method not in permissions.SAFE_METHODS
