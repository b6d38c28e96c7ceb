from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management.sql import emit_post_migrate_signal
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.models import User
from accounts.roles import ROLE_GROUP_NAMES
from accounts.services import (
    EmailTaken,
    LastAdmin,
    user_create,
    user_deactivate,
    user_logout_all,
    user_set_role,
    user_update,
)
from accounts.tokens import refresh_token_for


def _group_names(user: User) -> list[str]:
    return sorted(User.objects.get(pk=user.pk).groups.values_list("name", flat=True))


def test_role_groups_exist_with_sensible_permissions(db):
    groups = {g.name: g for g in Group.objects.filter(name__in=ROLE_GROUP_NAMES)}
    assert set(groups) == set(ROLE_GROUP_NAMES)
    admin_perms = set(groups["admin"].permissions.values_list("codename", flat=True))
    assert {"change_user", "view_user", "add_group"} <= admin_perms
    assert groups["admin"].permissions.count() == Permission.objects.count()
    editor_perms = set(groups["editor"].permissions.values_list("codename", flat=True))
    assert "change_user" not in editor_perms
    assert "delete_user" not in editor_perms
    assert groups["member"].permissions.count() == 0


def test_role_group_sync_repairs_after_migrate(db):
    Group.objects.get(name="admin").permissions.clear()
    Group.objects.filter(name="member").delete()
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")  # as migrate does
    assert Group.objects.get(name="admin").permissions.count() == Permission.objects.count()
    assert Group.objects.filter(name="member").exists()


def test_set_role_keeps_groups_and_staff_flag_in_sync(db):
    user_create(email="boss@example.com", password=None, role="admin")  # not the last admin
    user = user_create(email="r@example.com", password=None)
    keep = Group.objects.create(name="beta-testers")
    user.groups.add(keep)
    assert _group_names(user) == ["beta-testers", "member"]
    user_set_role(user=user, role="admin")
    row = User.objects.get(pk=user.pk)
    assert (row.role, row.is_staff) == ("admin", True)
    assert _group_names(user) == ["admin", "beta-testers"]
    assert row.has_perm("accounts.change_user")
    user_set_role(user=user, role="editor")
    row = User.objects.get(pk=user.pk)
    assert (row.role, row.is_staff) == ("editor", False)
    assert _group_names(user) == ["beta-testers", "editor"]
    assert not row.has_perm("accounts.change_user")
    user_set_role(user=user, role="editor")  # idempotent
    assert _group_names(user) == ["beta-testers", "editor"]
    with pytest.raises(ValueError):
        user_set_role(user=user, role="root")


def test_last_active_admin_is_protected(db):
    first = user_create(email="a1@example.com", password=None, role="admin")
    with pytest.raises(LastAdmin):
        user_set_role(user=first, role="member")
    with pytest.raises(LastAdmin):
        user_deactivate(user=first)
    second = user_create(email="a2@example.com", password=None, role="admin")
    user_set_role(user=first, role="member")
    assert User.objects.get(pk=first.pk).role == "member"
    with pytest.raises(LastAdmin):
        user_deactivate(user=second)


def test_user_update_writes_only_profile_fields(db):
    user = user_create(email="u@example.com", password=None)
    with pytest.raises(TypeError):
        user_update(user=user, data={"role": "admin"})
    with pytest.raises(TypeError):
        user_update(user=user, data={"token_version": 5})
    user_update(user=user, data={"email": " U2@Example.COM ", "plan": "pro"})
    row = User.objects.get(pk=user.pk)
    assert (row.email, row.plan, row.role) == ("u2@example.com", "pro", "member")
    user_create(email="taken@example.com", password=None)
    with pytest.raises(EmailTaken):
        user_update(user=user, data={"email": "TAKEN@example.com"})
    with pytest.raises(EmailTaken):
        user_create(email="Taken@example.com", password="x")


def test_logout_all_bumps_version_and_blacklists_only_live_tokens(db):
    user = user_create(email="t@example.com", password=None)
    other = user_create(email="t2@example.com", password=None)
    mine = [refresh_token_for(user) for _ in range(3)]
    theirs = refresh_token_for(other)
    assert user_logout_all(user=user) == 3
    assert user.token_version == 1
    blacklisted = set(BlacklistedToken.objects.values_list("token__jti", flat=True))
    assert blacklisted == {str(token["jti"]) for token in mine}
    assert str(theirs["jti"]) not in blacklisted
    assert user_logout_all(user=user) == 0  # nothing left to blacklist; version moves on
    assert User.objects.get(pk=user.pk).token_version == 2
    assert OutstandingToken.objects.filter(user=user).count() == 3


def test_user_create_captures_once_through_save(db):
    user = user_create(email="c@example.com", password="Very-long-pass-42", name="C")
    assert user.check_password("Very-long-pass-42")
    assert _group_names(user) == ["member"]
    assert User.objects.get(pk=user.pk).is_staff is False


@pytest.mark.django_db
def test_save_from_a_stale_instance_never_undoes_logout_all():
    from accounts.models import User
    from accounts.services import user_logout_all
    from tests.factories import UserFactory

    stale = UserFactory()
    user_logout_all(user=User.objects.get(pk=stale.pk))
    revoked_version = User.objects.get(pk=stale.pk).token_version
    stale.name = "edited from an old copy"
    stale.save()
    fresh = User.objects.get(pk=stale.pk)
    assert fresh.name == "edited from an old copy"
    assert fresh.token_version == revoked_version
