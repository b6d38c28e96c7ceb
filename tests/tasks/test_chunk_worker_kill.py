"""A reminder chunk whose worker is SIGKILLed mid-way is finished by the next worker, and every
task gets its alert once (issue #13, the reminder half of the worker-kill drill).

Real processes: a `celery worker` subprocess on the test broker and database, SIGKILLed while
its chunk is sending; a second worker takes the redelivered message after its queue's visibility
timeout (3 s here; `urgent` and `reminders` use 150 s, tests/core/test_project_wiring.py). Only
the mail server is a stand-in: slow, and delivering to files that outlive the worker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from config.celery import app as celery_app
from tasks.models import TaskReminderLedger
from tests.factories import UserFactory
from tests.tasks.factories import TaskFactory
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored"),
]

KILL_QUEUE = "reminders_kill_test"
CHUNK = 30


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", KILL_QUEUE),
            *("-P", "solo", "--without-gossip", "--without-mingle", "-l", "INFO"),
        ],
        env=env,
        cwd=str(Path(settings.BASE_DIR)),
        stdout=log.open("a"),
        stderr=subprocess.STDOUT,
    )


def _sent() -> int:
    return TaskReminderLedger.objects.filter(kind=TaskReminderLedger.Kind.OVERDUE).count()


@pytest.mark.timeout(240)
def test_sigkilled_overdue_chunk_is_finished_by_the_next_worker_once_per_task(tmp_path):
    now = timezone.now()
    user = UserFactory(timezone="UTC")
    tasks = [TaskFactory(owner=user, due_date=now - timedelta(hours=2)) for _ in range(CHUNK)]
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"mysql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "CELERY_WORKER_METRICS_PORT": "0",
        "PROMETHEUS_MULTIPROC_DIR": "",
        "CELERY_QUEUE_VISIBILITY_TIMEOUT_SECONDS": f"{KILL_QUEUE}=3",
        "EMAIL_BACKEND": "tests.tasks.email_backends.SlowFileBackend",
        "TEST_MAIL_DIR": str(mail_dir),
        "TEST_MAIL_SECONDS": "0.2",
    }
    log = tmp_path / "workers.log"
    with celery_app.connection_for_write() as conn:
        conn.default_channel.queue_purge(KILL_QUEUE)
    first = _worker(env, log)
    second = None
    try:
        celery_app.send_task(
            "tasks.jobs.send_overdue_alerts_chunk",
            args=[[task.pk for task in tasks], now.isoformat()],
            queue=KILL_QUEUE,
        )
        assert wait_until(lambda: _sent() >= 5, timeout_seconds=90), log.read_text()[-3000:]
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        sent_at_kill = _sent()
        assert sent_at_kill < CHUNK, "the chunk finished before the kill: nothing was tested"
        second = _worker(env, log)
        assert wait_until(lambda: _sent() == CHUNK, timeout_seconds=120), log.read_text()[-3000:]
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    ledger = Counter(
        TaskReminderLedger.objects.filter(kind=TaskReminderLedger.Kind.OVERDUE).values_list(
            "task_id", flat=True
        )
    )
    assert ledger == Counter(task.pk for task in tasks)
    subjects = Counter(path.read_text() for path in mail_dir.iterdir())
    assert set(subjects) == {f"Overdue: {task.title}" for task in tasks}
    # Sent ones are not sent again by the redelivered chunk. The one documented window left is a
    # kill after the mail server took a message and before its ledger row committed.
    assert sum(subjects.values()) - CHUNK <= 1, subjects.most_common(3)
