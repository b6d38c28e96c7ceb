"""Create the admin/editor/member groups and put every existing user in their role's group.

Permissions that exist already are assigned here (upgrades); on a fresh database they are
created after all migrations, and the post_migrate receiver in accounts.roles assigns them.
"""

from django.db import migrations

from accounts.roles import ROLE_GROUP_NAMES, role_groups_sync


def forwards(apps, schema_editor):
    alias = schema_editor.connection.alias
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    user_model = apps.get_model("accounts", "User")
    role_groups_sync(group_model=group_model, permission_model=permission_model, using=alias)
    membership = user_model.groups.through
    for group in group_model.objects.using(alias).filter(name__in=ROLE_GROUP_NAMES):
        user_ids = user_model.objects.using(alias).filter(role=group.name).values_list(
            "pk", flat=True
        )
        membership.objects.using(alias).bulk_create(
            [membership(user_id=pk, group_id=group.pk) for pk in user_ids.iterator()],
            batch_size=5000,
            ignore_conflicts=True,
        )


def backwards(apps, schema_editor):
    group_model = apps.get_model("auth", "Group")
    group_model.objects.using(schema_editor.connection.alias).filter(
        name__in=ROLE_GROUP_NAMES
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
