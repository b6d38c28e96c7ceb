"""Celery without services: eager jobs quietly inline, workers and beat refuse to start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

from config.celery import app

ROOT = Path(__file__).resolve().parents[2]


def _embedded_env(tmp_path: Path) -> dict[str, str]:
    """The embedded defaults: no broker, no Redis, SQLite in a temporary directory."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "CELERY_"))
    }
    env.update(DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3", DEBUG="1", LOG_LEVEL="INFO")
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_beat_keeps_its_schedule_file_under_var():
    assert Path(app.conf.beat_schedule_filename) == settings.VAR_DIR / "celerybeat-schedule"


def test_eager_job_without_a_broker_logs_no_broker_warning(tmp_path):
    env = _embedded_env(tmp_path)
    code = (
        "from tasks.jobs import warm_task_statistics; "
        "warm_task_statistics.apply_async(args=[1], countdown=5, retry=False)"
    )
    result = _run([sys.executable, "manage.py", "shell", "-v", "0", "-c", code], env)
    assert result.returncode == 0, result.stderr
    assert "warm_task_statistics" in result.stderr  # it ran, inline
    assert "kombu" not in result.stderr
    assert "No hostname was supplied" not in result.stderr


def test_worker_without_a_broker_refuses_to_start_and_says_what_is_missing(tmp_path):
    celery = str(Path(sys.executable).with_name("celery"))
    result = _run([celery, "-A", "config", "worker", "-l", "INFO"], _embedded_env(tmp_path))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "no broker configured" in output
    assert "CELERY_BROKER_URL" in output and "REDIS_URL" in output


def test_beat_without_a_broker_refuses_to_start(tmp_path):
    celery = str(Path(sys.executable).with_name("celery"))
    env = _embedded_env(tmp_path)
    result = _run([celery, "-A", "config", "beat", "-s", str(tmp_path / "schedule")], env)
    assert result.returncode != 0
    assert "no broker configured" in result.stdout + result.stderr
