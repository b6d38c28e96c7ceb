"""Permissions and helpers both API versions share."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse
from rest_framework import permissions
from rest_framework.request import Request

from core.serializers import ProblemOut

PROBLEM = OpenApiResponse(ProblemOut, description="application/problem+json")


class IsEditorOrReadOnly(permissions.BasePermission):
    """Anyone reads (published posts; drafts are filtered by the selectors); editors and
    admins write."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        user = request.user
        return bool(user and user.is_authenticated and user.is_editor_or_admin)
