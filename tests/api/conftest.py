"""A small world for whole-API tests: one user per role, each with their own objects, and the
app served in-process over WSGI inside the test's transaction."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections

from tests.factories import UserFactory, access_token_for

ROLES = ("anonymous", "member", "editor", "admin")


@dataclass
class Persona:
    role: str
    user: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def pk(self) -> int | None:
        return self.user.pk if self.user else None


def persona_of(user: Any) -> Persona:
    """A persona for an existing user (None: anonymous), with a real access token."""
    if user is None:
        return Persona(role="anonymous")
    return Persona(
        role=user.role, user=user, headers={"Authorization": f"Bearer {access_token_for(user)}"}
    )


def persona_for(role: str) -> Persona:
    """A fresh throwaway user of `role` (anonymous: no user, no header)."""
    return persona_of(None if role == "anonymous" else UserFactory(role=role))


@dataclass
class World:
    """Each persona's own objects (`tasks[role]`, `posts[role]` for the roles that author), and
    objects of users who are none of the personas (`other_*`)."""

    personas: dict[str, Persona]
    tasks: dict[str, int]
    other_task: int
    posts: dict[str, Any]
    published_post: Any  # by the editor persona
    draft_post: Any  # by the editor persona
    other_post: Any  # published, by another editor
    other_user: Any  # a member
    other_editor: Any
    category: Any
    tag: Any


@pytest.fixture
def world(db, member, editor, admin) -> World:
    """Built on the suite's personas (tests/conftest.py), plus users who are none of them."""
    from posts.models import Category, Tag
    from posts.services import post_create
    from tests.tasks.factories import TaskFactory

    by_role = {"anonymous": None, "member": member, "editor": editor, "admin": admin}
    personas = {role: persona_of(by_role[role]) for role in ROLES}
    other_user = UserFactory(role="member")
    other_editor = UserFactory(role="editor")
    category = Category.objects.create(name="News", slug="news")
    tag = Tag.objects.create(name="Django", slug="django")
    editor = personas["editor"].user
    published = post_create(
        by=editor,
        title="Published",
        body="Hello",
        slug="published",
        category_id=category.pk,
        tag_ids=[tag.pk],
        is_published=True,
    )
    draft = post_create(
        by=editor,
        title="Draft",
        body="",
        slug="draft",
        category_id=None,
        tag_ids=[],
        is_published=False,
    )
    other_post = post_create(by=other_editor, title="Other", slug="other", is_published=True)
    admin_post = post_create(
        by=personas["admin"].user, title="By admin", slug="by-admin", is_published=True
    )
    tasks = {
        role: TaskFactory(owner=persona.user).pk
        for role, persona in personas.items()
        if persona.user is not None
    }
    return World(
        personas=personas,
        tasks=tasks,
        other_task=TaskFactory(owner=other_user).pk,
        posts={"editor": published, "admin": admin_post},
        published_post=published,
        draft_post=draft,
        other_post=other_post,
        other_user=other_user,
        other_editor=other_editor,
        category=category,
        tag=tag,
    )


@pytest.fixture
def wsgi_app(db) -> Iterator[Any]:
    """The project's WSGI application, called in-process on the test's own connection.

    Django closes "old" connections at the start and end of each request; inside the test's
    transaction that would drop it, so (like Django's test client) the hooks are off meanwhile.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
