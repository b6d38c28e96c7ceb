"""The README's beat table and config/celery.py agree (entry, job, timing, queue)."""

from __future__ import annotations

import re
from pathlib import Path

from celery.schedules import crontab

from config.celery import BEAT_SCHEDULE, app

ROOT = Path(__file__).resolve().parents[2]


def _when(schedule: object) -> str:
    if isinstance(schedule, crontab):
        fields = (
            schedule._orig_minute,
            schedule._orig_hour,
            schedule._orig_day_of_month,
            schedule._orig_month_of_year,
            schedule._orig_day_of_week,
        )
        return "`" + " ".join(str(field) for field in fields) + "`"
    return f"every {int(schedule)} s"


def _readme_rows() -> dict[str, tuple[str, str, str]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Beat schedule", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        match = re.fullmatch(r"`([a-z0-9-]+)`", cells[0]) if len(cells) >= 4 else None
        if match:
            rows[match.group(1)] = (cells[1].strip("`"), cells[2], cells[3])
    return rows


def test_readme_beat_table_matches_the_schedule():
    expected = {
        name: (
            entry["task"],
            _when(entry["schedule"]),
            app.amqp.router.route({}, entry["task"])["queue"].name,
        )
        for name, entry in BEAT_SCHEDULE.items()
    }
    assert _readme_rows() == expected
