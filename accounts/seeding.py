"""Bulk users for seed_demo: one password hash, multi-row INSERTs, no save() capture.

Rows are plain tuples written with `executemany`; on MariaDB/MySQL the driver folds them into
multi-row `INSERT ... VALUES (...),(...)` statements of about STATEMENT_BYTES each. Group
membership (role → group) is then added with one `INSERT ... SELECT` per id range, so seeded
users are as consistent as ones made through accounts.services. 1,000,000 users take well
under a minute on MariaDB (see the accounts report for the measured figure).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from accounts.roles import ROLE_GROUP_NAMES

# seed_demo option (`--users N`); apps are seeded in INSTALLED_APPS order (users first).
SEED_OPTION = "users"

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-password"  # noqa: S105  (documented demo login for make run)


@dataclass(frozen=True)
class DemoAccount:
    email: str
    password: str
    name: str
    role: str
    is_staff: bool


# One account per role, listed in the README: the admin sees everyone's tasks and bypasses the
# task cache, so the member and editor experiences need logins of their own.
DEMO_ACCOUNTS = (
    DemoAccount(DEMO_EMAIL, DEMO_PASSWORD, "Demo Admin", "admin", is_staff=True),
    DemoAccount("editor@example.com", "editor-password", "Demo Editor", "editor", is_staff=False),
    DemoAccount("member@example.com", "member-password", "Demo Member", "member", is_staff=False),
)
# Rows per transaction: 10,000 keeps commits (one fsync each) rare and undo logs small.
INSERT_BATCH_SIZE = 10_000
# mysqlclient splits executemany into statements of at most this size (its default is 64 KiB,
# i.e. ~300 rows a statement); 4 MiB stays under MariaDB's 16 MiB max_allowed_packet default.
STATEMENT_BYTES = 4 * 1024 * 1024
# Users per INSERT ... SELECT into the group membership table.
MEMBERSHIP_RANGE = 100_000
TIMEZONES = (
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Asia/Kolkata",
)
COLUMNS = (
    "password",
    "is_superuser",
    "email",
    "name",
    "role",
    "is_active",
    "is_staff",
    "date_joined",
    "timezone",
    "locale",
    "phone",
    "marketing_opt_in",
    "plan",
    "token_version",
    "sync_version",
)


def _insert_sql() -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(name) for name in COLUMNS)
    placeholders = ", ".join(["%s"] * len(COLUMNS))
    return f"INSERT INTO {quote(User._meta.db_table)} ({columns}) VALUES ({placeholders})"


def _write_rows(rows: list[tuple[Any, ...]]) -> None:
    with transaction.atomic():
        if connection.vendor == "mysql":
            connection.ensure_connection()
            cursor = connection.connection.cursor()  # the driver's own: no per-row debug log
            cursor.max_stmt_length = STATEMENT_BYTES
            try:
                cursor.executemany(_insert_sql(), rows)
            finally:
                cursor.close()
        else:
            with connection.cursor() as cursor:
                cursor.executemany(_insert_sql(), rows)


def _add_group_memberships(*, after_id: int) -> None:
    """Every user with id > after_id joins the group of their role."""
    membership = User.groups.through._meta
    quote = connection.ops.quote_name
    table, users = quote(membership.db_table), quote(User._meta.db_table)
    last_id = User.objects.order_by("-id").values_list("id", flat=True).first() or after_id
    groups = {name: Group.objects.get_or_create(name=name)[0].pk for name in ROLE_GROUP_NAMES}
    sql = (
        f"INSERT INTO {table} ({quote('user_id')}, {quote('group_id')}) "
        f"SELECT {quote('id')}, %s FROM {users} "
        f"WHERE {quote('id')} > %s AND {quote('id')} <= %s AND {quote('role')} = %s"
    )
    with connection.cursor() as cursor:
        for low in range(after_id, last_id, MEMBERSHIP_RANGE):
            high = min(low + MEMBERSHIP_RANGE, last_id)
            with transaction.atomic():
                for role, group_id in groups.items():
                    cursor.execute(sql, [group_id, low, high, role])


def seed(*, count: int, progress: Callable[[int], None]) -> int:
    """Insert `count` users (first the demo accounts that are missing). Returns rows made."""
    password = make_password(DEMO_PASSWORD)  # hashed once: hashing per row would take hours
    joined = connection.ops.adapt_datetimefield_value(timezone.now())
    before_id = User.objects.order_by("-id").values_list("id", flat=True).first() or 0
    number = before_id + 1  # email numbers continue after the highest id: no collisions
    rows: list[tuple[Any, ...]] = []
    existing = set(
        User.objects.filter(email__in=[a.email for a in DEMO_ACCOUNTS]).values_list(
            "email", flat=True
        )
    )
    for account in DEMO_ACCOUNTS[:count]:
        if account.email in existing:
            continue
        is_admin = account.role == "admin"
        rows.append(
            (
                make_password(account.password),
                is_admin,
                account.email,
                account.name,
                account.role,
                True,
                account.is_staff,
                joined,
                *("UTC", "en", "", False, "free", 0, 0),
            )
        )
    inserted = 0
    while inserted + len(rows) < count:
        rows.append(
            (
                password,
                False,
                f"user{number}@demo.example.com",
                f"Demo User {number}",
                "member",
                True,
                False,
                joined,
                TIMEZONES[number % len(TIMEZONES)],
                "en",
                "",
                number % 3 == 0,
                "free",
                0,
                0,
            )
        )
        number += 1
        if len(rows) == INSERT_BATCH_SIZE:
            _write_rows(rows)
            inserted += len(rows)
            rows = []
            progress(inserted)
    if rows:
        _write_rows(rows)
        inserted += len(rows)
        progress(inserted)
    _add_group_memberships(after_id=before_id)
    return inserted
