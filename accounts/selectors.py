"""Reads on users: the admin list and lookups that hide other users' existence."""

from __future__ import annotations

from django.db.models import Q
from django.http import Http404

from accounts.models import User, UserQuerySet


def user_list(
    *, role: str | None = None, is_active: bool | None = None, search: str | None = None
) -> UserQuerySet:
    """Users for the admin list, oldest first (a stable order for page numbers)."""
    users: UserQuerySet = User.objects.all().order_by("id")
    if role:
        users = users.filter(role=role)
    if is_active is not None:
        users = users.filter(is_active=is_active)
    if search:
        users = users.filter(Q(email__icontains=search) | Q(name__icontains=search))
    return users


def user_get_visible(*, user_id: int, viewer: User) -> User:
    """The user `viewer` may see: themselves, or anyone for an admin.

    Raises Http404 otherwise, so a member can't tell whether another id exists.
    """
    if viewer.pk == user_id:
        return viewer
    if not viewer.is_admin:
        raise Http404("No such user.")
    try:
        user: User = User.objects.get(pk=user_id)
    except User.DoesNotExist:
        raise Http404("No such user.") from None
    return user
