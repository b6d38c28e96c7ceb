"""Schemathesis fuzzes every operation of the OpenAPI schema, once per role, in-process (WSGI)
on MariaDB and Redis: no 5xx, and every status, content type and body is the documented one.

Bounded for `make test` (FUZZ_EXAMPLES per operation, role and generation mode; a fixed seed).
`make fuzz` runs the same tests with more examples and every schemathesis check
(FUZZ_EXAMPLES, FUZZ_ALL_CHECKS=1); FUZZ_REPORT names a JSON file for the figures.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api import openapi
from tests.api.conftest import ROLES, World, persona_for

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))
ALL_CHECKS = os.environ.get("FUZZ_ALL_CHECKS") == "1"
REPORT = os.environ.get("FUZZ_REPORT", "")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
# The limiter stays on (its code runs) but never refuses: a 429 would hide what lies behind it.
UNLIMITED = {"stats": "100000/m", "tasks": "100000/m", "auth": "100000/m", "default": "100000/m"}
# Operations that end the caller's own session or account run as a throwaway user of the role.
SELF_DESTRUCTIVE = {
    "POST /api/v1/auth/logout-all",
    "PUT /api/v1/users/me",
    "PATCH /api/v1/users/me",
    "DELETE /api/v1/users/me",
    "PUT /api/v1/users/{id}",
    "PATCH /api/v1/users/{id}",
    "DELETE /api/v1/users/{id}",
}

_figures: dict[str, dict[str, int]] = {}
_figures_lock = threading.Lock()


def _known_path_parameters(label: str, world: World, role: str, *, own_user_id: int | None) -> dict:
    """Real ids, so the fuzzer reaches past the 404 (random ids almost never exist)."""
    path = label.split(" ", 1)[1]
    if path.startswith("/api/v1/tasks/{id}"):
        return {"id": world.tasks.get(role, world.other_task)}
    if path.startswith(("/api/v1/posts/{id}", "/api/v2/posts/{id}")):
        return {"id": world.published_post.pk}
    if path == "/api/v1/posts/by-slug/{slug}":
        return {"slug": world.published_post.slug}
    if path == "/api/v1/users/{id}":
        return {"id": own_user_id or world.other_user.pk}
    if path == "/api/v1/users/{user_id}/posts":
        return {"user_id": world.published_post.author_id}
    return {}


def _strategy(label: str, world: World, role: str, *, own_user_id: int | None) -> Any:
    operation = openapi.operation(label)
    known = _known_path_parameters(label, world, role, own_user_id=own_user_id)
    strategies = [operation.as_strategy(generation_mode=mode) for mode in MODES]
    if known:
        strategies.append(
            operation.as_strategy(generation_mode=GenerationMode.POSITIVE, path_parameters=known)
        )
    return st.one_of(strategies)


@pytest.mark.parametrize("label", openapi.OPERATIONS)
@pytest.mark.parametrize("role", ROLES)
def test_operation_conforms_to_the_schema(wsgi_app, world, role, label):
    openapi.SCHEMA.app = wsgi_app
    throwaway = label in SELF_DESTRUCTIVE and role != "anonymous"
    persona = world.personas[role]
    # A throwaway's id, when the operation acts on one user, is fixed per test run.
    own = persona_for(role) if throwaway else persona
    statuses: dict[str, int] = {}
    checks = None if ALL_CHECKS else CHECKS

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,  # the same cases on every run
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_strategy(label, world, role, own_user_id=own.pk))
    def run(case: Any) -> None:
        caller = persona_for(role) if throwaway else persona
        if throwaway and "id" in case.path_parameters and case.path_parameters["id"] == own.pk:
            case.path_parameters["id"] = caller.pk  # act on the throwaway itself
        response = case.call(headers=caller.headers)
        statuses[str(response.status_code)] = statuses.get(str(response.status_code), 0) + 1
        case.validate_response(response, checks=checks, headers=caller.headers)

    with override_settings(RATE_LIMITS=UNLIMITED):
        try:
            run()
        finally:
            _record(role, label, statuses)


def _record(role: str, label: str, statuses: dict[str, int]) -> None:
    if not REPORT:
        return
    with _figures_lock:
        _figures[f"{role} {label}"] = statuses
        Path(REPORT).write_text(json.dumps(_figures, indent=1, sort_keys=True))
