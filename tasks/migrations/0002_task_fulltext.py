"""FULLTEXT index on (title, description), MariaDB/MySQL only.

Per-vendor SQL: on SQLite (embedded mode) nothing is created and search falls back to a
contains-filter. InnoDB tokenizes with innodb_ft_min_token_size (3 by default) and the
built-in stopword list; see docs/tasks.md.
"""

from django.db import migrations

INDEX_NAME = "task_fulltext_idx"


def create_fulltext(apps, schema_editor):
    if schema_editor.connection.vendor != "mysql":
        return
    table = apps.get_model("tasks", "Task")._meta.db_table
    schema_editor.execute(
        f"ALTER TABLE {schema_editor.quote_name(table)} "
        f"ADD FULLTEXT INDEX {schema_editor.quote_name(INDEX_NAME)} (title, description)"
    )


def drop_fulltext(apps, schema_editor):
    if schema_editor.connection.vendor != "mysql":
        return
    table = apps.get_model("tasks", "Task")._meta.db_table
    schema_editor.execute(
        f"ALTER TABLE {schema_editor.quote_name(table)} "
        f"DROP INDEX {schema_editor.quote_name(INDEX_NAME)}"
    )


class Migration(migrations.Migration):
    # MariaDB can't roll back DDL, and Django refuses DDL inside a transaction there.
    atomic = False

    dependencies = [("tasks", "0001_initial")]

    operations = [migrations.RunPython(create_fulltext, drop_fulltext)]
