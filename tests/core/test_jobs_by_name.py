"""Jobs are enqueued by name (core.jobs.enqueue): every name in the code is a registered job,
and the lookup keeps eager mode (the tests and `make run` run jobs inline)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from celery.exceptions import NotRegistered

from config.celery import app
from core import redis as coordination
from core.jobs import enqueue, job_get

ROOT = Path(__file__).resolve().parents[2]
APPS = ("accounts", "config", "core", "monitoring", "posts", "stats", "syncqueue", "tasks")
JOB_NAME = re.compile(r"^(accounts|monitoring|posts|stats|syncqueue|tasks)\.jobs\.\w+$")


def _sources() -> list[Path]:
    return [
        path
        for app_name in APPS
        for path in (ROOT / app_name).rglob("*.py")
        if "migrations" not in path.parts
    ]


def _job_names_in_code() -> dict[str, str]:
    """Every string literal shaped like a job name, outside the jobs modules that define them."""
    found: dict[str, str] = {}
    for path in _sources():
        if path.name == "jobs.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            is_text = isinstance(node, ast.Constant) and isinstance(node.value, str)
            if is_text and JOB_NAME.match(node.value):
                found[node.value] = f"{path.relative_to(ROOT)}:{node.lineno}"
    return found


def _enqueue_calls_without_a_literal_name() -> list[str]:
    offenders = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", None)) == "enqueue"
                and node.args
                and not isinstance(node.args[0], ast.Constant)
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return offenders


def test_every_job_name_in_the_code_is_a_registered_job():
    app.loader.import_default_modules()
    names = _job_names_in_code()
    # the callers that enqueue by name (and the beat schedule) are all found
    assert "tasks.jobs.send_task_reminders_chunk" in names
    assert "syncqueue.jobs.push_outbox_batches" in names
    unknown = {name: where for name, where in names.items() if name not in app.tasks}
    assert unknown == {}


def test_enqueue_is_always_given_a_name_the_scan_can_check():
    # Two pass the name on: posts.events (LISTENER_JOBS[listener]) and the reminder fan-out
    # (_chunks_enqueue(job, ...)); both get literal names, checked by the test above.
    callers = {where.split(":")[0] for where in _enqueue_calls_without_a_literal_name()}
    assert callers == {"posts/events.py", "tasks/services/notifications.py"}


def test_an_unknown_name_fails_loudly():
    with pytest.raises(NotRegistered):
        enqueue("tasks.jobs.no_such_job")


def test_enqueue_by_name_runs_the_job_eagerly_in_tests():
    # send_task would publish to the broker even in eager mode; the registry lookup does not.
    assert app.conf.task_always_eager is True
    key = "tasks:v1:gen:987654"
    before = coordination.generation_get(key) or 0
    assert job_get("tasks.jobs.bump_task_cache_generation").name in app.tasks
    assert enqueue("tasks.jobs.bump_task_cache_generation", 987654) is True
    assert coordination.generation_get(key) == before + 1
